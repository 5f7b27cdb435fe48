"""Run the contract checks from a test suite.

::

    from specwire.contract.testing import assert_contract, assert_contract_async

    def test_server_keeps_its_contract(server_url):
        assert_contract(server_url, "asyncapi.yaml", token="dev-token", duration=5)

    async def test_server_keeps_its_contract_async(server_url):  # pytest-asyncio
        await assert_contract_async(server_url, "asyncapi.yaml", skip=["streams"])

Both take the keyword arguments of :func:`specwire.contract.runner.run_contract`,
return the :class:`~specwire.contract.report.ContractReport` when no check failed,
and raise ``AssertionError`` with the summary table and the failing checks'
evidence otherwise. :func:`assert_contract` runs its own event loop, so call it from
a synchronous test (with the server running in another thread or process); from an
``async`` test, await :func:`assert_contract_async`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from specwire.contract.report import ContractReport
from specwire.contract.runner import run_contract

__all__ = ["assert_contract", "assert_contract_async"]


async def assert_contract_async(url: str, spec: str | Path, **options: Any) -> ContractReport:
    """Run the checks; raise ``AssertionError`` with the summary when one fails."""
    report = await run_contract(url, spec, **options)
    if not report.passed:
        raise AssertionError(
            f"{url} breaks its contract ({', '.join(c.name for c in report.failed)}):\n"
            + report.summary()
        )
    return report


def assert_contract(url: str, spec: str | Path, **options: Any) -> ContractReport:
    """:func:`assert_contract_async` for synchronous tests (runs its own event loop)."""
    return asyncio.run(assert_contract_async(url, spec, **options))
