"""HTTP routes of hours (its domain endpoints come with its own issue)."""

from fastapi import APIRouter

router = APIRouter()
