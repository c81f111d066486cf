"""Swagger UI at /docs in headless Chromium, as a developer opens it on the local stack: every
operation of the contract is listed (the page needs nothing from outside: its assets are inline),
and "Try it out" on GET /openapi.json answers 200 from the stack."""

from __future__ import annotations

import json
import urllib.request

from tests.support.chromium import browser_context
from tests.support.local_stack import running_stack


def test_swagger_ui_lists_every_operation_and_calls_the_stack():
    with running_stack() as stack:
        base = f"http://127.0.0.1:{stack.port}"
        with urllib.request.urlopen(f"{base}/openapi.json", timeout=30) as answer:
            document = json.load(answer)
        operations = sum(1 for item in document["paths"].values() for _ in item)

        with browser_context("leadscore-swagger-chromium-", {"width": 1200, "height": 900}) as context:
            outside = []
            context.route("**/*", lambda route: (outside.append(route.request.url), route.abort())
                          if not route.request.url.startswith(base) else route.continue_())
            page = context.new_page()
            page.goto(f"{base}/docs")
            page.wait_for_selector(".opblock")

            assert page.locator(".opblock").count() == operations
            assert page.locator(".opblock-summary-path", has_text="/leads/{id}/feedback").count() == 2  # POST, OPTIONS
            assert page.locator("button.authorize").count() == 1
            assert outside == []  # no CDN, no font, nothing but the stack

            document_op = page.locator(".opblock", has=page.locator(".opblock-summary-path", has_text="/openapi.json"))
            document_op.locator(".opblock-summary").click()
            document_op.locator("button.try-out__btn").click()
            document_op.locator("button.execute").click()
            status = document_op.locator(".live-responses-table tbody .response-col_status").first
            status.wait_for()
            assert status.inner_text().strip() == "200"
