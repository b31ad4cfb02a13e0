"""/v1/portfolios: upload a portfolio (JSON or files), read one back."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool

from allocator.web import uploads
from allocator.web.routes.deps import Planner, Reader, Scoped, ServiceDep
from allocator.web.routes.models import MAX_ID, PortfolioOut, PortfolioSummary
from allocator.web.routes.responses import errors

router = APIRouter(prefix="/v1/portfolios", tags=["portfolios"], dependencies=Scoped)

PortfolioId = Annotated[int, Path(ge=1, le=MAX_ID, description="Portfolio id.")]

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A portfolio document as JSON, or its files: the CSV tables "
        "(engineers.csv, opportunities.csv, demands.csv, ...), or one .xlsx or .json file.",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Portfolio"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "The files, each under its own file name.",
                        }
                    },
                    "required": ["files"],
                }
            },
        },
    }
}


@router.post(
    "",
    status_code=201,
    summary="Upload a portfolio",
    openapi_extra=UPLOAD_BODY,
    responses=errors(413, 415),
)
async def upload_portfolio(
    request: Request, service: ServiceDep, principal: Planner
) -> PortfolioSummary:
    """Validate a portfolio with the core's rules and store it; answers its id. Every problem
    is reported with its place: `$.demands[0].hours` or `demands.csv row 14, column hours`."""
    portfolio = await uploads.read_portfolio(request)
    entry = await run_in_threadpool(service.add_portfolio, portfolio, principal)
    return PortfolioSummary.of(entry)


@router.get("/{portfolio_id}", summary="Read a stored portfolio", responses=errors(404))
def get_portfolio(portfolio_id: PortfolioId, service: ServiceDep, _: Reader) -> PortfolioOut:
    """The stored portfolio: its summary and whole document."""
    entry, portfolio = service.get_portfolio(portfolio_id)
    return PortfolioOut(**PortfolioSummary.of(entry).model_dump(), portfolio=portfolio)
