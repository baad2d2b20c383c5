"""HTTP routes of matching (its domain endpoints come with its own issue)."""

from fastapi import APIRouter

router = APIRouter()
