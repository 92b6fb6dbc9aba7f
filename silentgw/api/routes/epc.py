"""EPC decoding over HTTP: what a tag's hex means in GS1 terms (the same decoder the read pipeline uses)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from silentgw.api.deps import CatalogDep
from silentgw.api.problems import epc_problem
from silentgw.gateway.identity import UnsupportedEpc, decode

router = APIRouter(prefix="/epc", tags=["epc"])


class DecodedEpc(BaseModel):
    """A decoded EPC: its scheme, GS1 key and the URIs derived from it."""

    hex: str = Field(examples=["3074257BF7194E4000001A85"])
    scheme: str = Field(examples=["sgtin-96"])
    filter: int = Field(examples=[3])
    key: str = Field(description="The GS1 element string items are keyed by.", examples=["(01)80614141123458(21)6789"])
    uri: str | None = Field(default=None, description="Pure identity URN; null for a '+' EPC of an unknown prefix.")
    tag_uri: str | None = Field(default=None, examples=["urn:epc:tag:sgtin-96:3.0614141.812345.6789"])
    element_string: str
    digital_link: str = Field(examples=["https://id.gs1.org/01/80614141123458/21/6789"])
    company_prefix: str | None = None
    gtin: str | None = None
    serial: str | None = None
    ais: dict[str, str] = Field(description="The identity as GS1 Application Identifiers and their values.")
    date: dict[str, str] | None = Field(default=None, description="DSGTIN+ only: the date's AI and YYMMDD value.")
    aidc: bool | None = Field(default=None, description="'+' schemes only: more AIDC data follows the EPC.")
    warnings: list[str] = Field(default_factory=list, description="Deviations tolerated while decoding.")


@router.get("/{hex_epc}", summary="Decode an EPC", response_model=DecodedEpc)
def decode_epc(
    hex_epc: Annotated[str, Path(max_length=128, description="The EPC bank's contents as hex, as a reader reports it")],
    catalog: CatalogDep,
    request: Request,
) -> DecodedEpc | JSONResponse:
    """Decode an EPC binary encoding (SGTIN-96/198, SSCC-96, SGLN-96/195, GRAI-96/170, GIAI-96/202, and the TDS 2.x
    '+' schemes); 422 with the reason when it is malformed, breaks the standard, or is of a scheme not decoded."""
    result = decode(hex_epc, prefixes=catalog.company_prefixes())
    if isinstance(result, UnsupportedEpc):
        detail = f"{result.reason} (EPC {result.hex}, header {result.header:02X})"
        return epc_problem(
            request,
            slug="unsupported-epc-scheme",
            title="EPC scheme not supported",
            reason=result.reason,
            detail=detail,
        )
    data: dict[str, Any] = result.to_dict()
    return DecodedEpc.model_validate(data)
