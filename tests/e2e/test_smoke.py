"""Smoke test of the web app in a real browser: it starts, renders and stays offline."""

from __future__ import annotations

import pytest
from conftest import AppServer, app_exceptions, screenshot, wait_for_app
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e


def test_health_endpoint(app_server: AppServer) -> None:
    """The server answers Streamlit's health check and serves the front end."""
    assert app_server.get("/_stcore/health") == (200, "ok")
    status, body = app_server.get("/")
    assert status == 200
    assert 'id="root"' in body
    assert "Did not auto detect external IP" not in app_server.log()


def test_app_opens_offline(app_server: AppServer, page: Page, blocked_requests: list[str],
                           console_errors: list[str]) -> None:
    """The app renders its title without errors and without any request off the machine."""
    page.goto(app_server.url)
    wait_for_app(page)
    expect(page).to_have_title("lifecircle")
    expect(page.locator('[data-testid="stSidebar"]')).to_contain_text("lifecircle")
    expect(page.locator('[data-testid="stMain"] h1').first).to_be_visible()
    assert app_exceptions(page) == []
    path = screenshot(page, "smoke")
    assert path.stat().st_size > 10_000
    assert blocked_requests == [], f"the app tried to reach: {blocked_requests}"
    assert console_errors == [], console_errors
