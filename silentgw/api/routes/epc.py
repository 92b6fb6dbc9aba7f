"""EPC decoding over HTTP: what a tag's hex means in GS1 terms (the same decoder the read pipeline uses)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

router = APIRouter(prefix="/epc", tags=["epc"])

PLACEHOLDER = True


@router.get("/{hex_epc}", summary="Decode an EPC")
def decode_epc(hex_epc: Annotated[str, Path(max_length=128)]) -> Any:
    """Placeholder until the identity package lands."""
    return JSONResponse({"hex": hex_epc})
