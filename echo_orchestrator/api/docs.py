"""OpenAPI at /docs/openapi.json and Swagger UI at /docs, with its assets served locally.

The stock Swagger page loads its JS and CSS from a CDN and is blank offline; the
`swagger-ui-bundle` package ships them, and we serve them from /docs-assets.
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle  # type: ignore[import-untyped]
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Tag
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from echo_orchestrator import __version__

ASSETS_PATH = "/docs-assets"
_ASSETS_DIR = Path(swagger_ui_bundle.swagger_ui_path)


def openapi_config() -> OpenAPIConfig:
    swagger = SwaggerRenderPlugin(
        path="/",
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )
    return OpenAPIConfig(
        title="Echo Orchestrator",
        version=__version__,
        description=(
            "Design, version and run AI agent workflows. Implements the EchoAI Workflow Orchestrator "
            "API and the Ouroboros Compute API on one set of models."
        ),
        path="/docs",
        render_plugins=[swagger],
        tags=[Tag(name="service", description="Health and metrics")],
        use_handler_docstrings=True,
    )


def assets_router() -> ControllerRouterHandler:
    return create_static_files_router(
        path=ASSETS_PATH, directories=[_ASSETS_DIR], include_in_schema=False, name="docs-assets"
    )
