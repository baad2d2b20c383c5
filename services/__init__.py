"""The four services. They import `contracts` and `shared`, never each other."""
