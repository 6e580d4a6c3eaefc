"""Exports at a desk: the workbook, or every CSV in one zip, built by ExportService (the files
/export sends) in a temporary directory, off the event loop, and downloaded."""

from __future__ import annotations

import asyncio
import tempfile
import zipfile
from pathlib import Path

from aiohttp import web

from bot.domain import Role
from handlers.web.auth import staff_page
from handlers.web.console.common import actor_of, current_campaign, no_campaign
from handlers.web.rendering import language_of, render, services_of

PATH = "/staff/exports"
KINDS = ("workbook", "csv")


@staff_page(Role.ADMIN)
async def exports_page(request: web.Request) -> web.StreamResponse:
    campaign = await current_campaign(request)
    if campaign is None:
        return no_campaign(request)
    return render(request, "console/exports.html", campaign=campaign)


def _zip(paths: list[Path], out: Path) -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in paths:
            archive.write(path, path.name)
    return out


@staff_page(Role.ADMIN)
async def download(request: web.Request) -> web.StreamResponse:
    campaign = await current_campaign(request)
    if campaign is None:
        return no_campaign(request)
    kind = request.match_info["kind"]
    with tempfile.TemporaryDirectory(prefix="chamyeo-web-export-") as directory:
        paths = await services_of(request).exports.export(
            campaign, directory, language_of(request), actor_of(request))
        if kind == "workbook":
            chosen = next(p for p in paths if p.suffix == ".xlsx")
            content_type = ("application/vnd.openxmlformats-officedocument."
                            "spreadsheetml.sheet")
        else:
            chosen = await asyncio.to_thread(
                _zip, [p for p in paths if p.suffix == ".csv"],
                Path(directory) / f"chamyeo-{campaign.slug}-csv.zip")
            content_type = "application/zip"
        body = await asyncio.to_thread(chosen.read_bytes)
    return web.Response(body=body, content_type=content_type, headers={
        "Content-Disposition": f'attachment; filename="{chosen.name}"'})


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, exports_page)
    app.router.add_get(PATH + "/{kind:workbook|csv}", download)
