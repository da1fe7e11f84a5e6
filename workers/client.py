"""One way to reach Temporal, shared by the worker, the CLI and the API."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from domain.settings import Settings, load_settings


async def connect(settings: Settings | None = None) -> Client:
    """Connect to the Temporal frontend named in settings, with the pydantic
    data converter every workflow payload in this project needs."""
    settings = settings or load_settings()
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )


def workflow_id_for(opportunity_id: str) -> str:
    """The one workflow id of an opportunity (ARCHITECTURE decision 2)."""
    return f"opportunity-{opportunity_id}"
