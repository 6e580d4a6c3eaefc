"""The files `chamyeo codes issue` writes for one batch of voting codes: a CSV (Excel reads
it: UTF-8 with a BOM) and a printable A4 sheet of cut-out slips (self-contained HTML, no
script, no outside resource), each with the code and how to use it. The codes exist in the
clear only here: the database keeps their keyed hashes."""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path

from bot.domain import Campaign, PhaseName
from bot.i18n import format_when

STYLE = """
@page { size: A4; margin: 12mm; }
body { font-family: "Noto Sans KR", "Apple SD Gothic Neo", "Malgun Gothic", sans-serif;
       margin: 0; color: #111; }
.sheet { display: grid; grid-template-columns: 1fr 1fr; gap: 0; }
.slip { border: 1px dashed #777; padding: 5mm 6mm; break-inside: avoid;
        page-break-inside: avoid; min-height: 52mm; box-sizing: border-box; }
.title { font-weight: 700; font-size: 11pt; margin: 0; }
.title-en { font-size: 9pt; color: #444; margin: 0 0 2mm; }
.code { font-family: "DejaVu Sans Mono", "Consolas", monospace; font-size: 20pt;
        font-weight: 700; letter-spacing: 1.5pt; margin: 2mm 0; }
.how { font-size: 9pt; margin: 1mm 0; line-height: 1.35; }
.how-en { font-size: 8pt; color: #444; margin: 0 0 1mm; }
.when { font-size: 8.5pt; margin-top: 2mm; }
@media screen { body { margin: 10mm; } }
"""


HOW_KO = ("카카오톡이나 텔레그램 채팅에서 사례를 고르고 ‘투표하기’를 누른 뒤, 이 코드를 보내 "
          "주세요. 코드 하나에 한 표이며, 다른 사람에게 보여 주지 마세요.")
HOW_EN = ("In the KakaoTalk or Telegram chat, choose a case, press vote, then send this code. "
          "One vote per code; keep it private.")


def file_names(campaign: Campaign, batch: str) -> tuple[str, str]:
    stem = f"codes-{campaign.slug}-{batch}"
    return f"{stem}.csv", f"{stem}.html"


def codes_csv(codes: tuple[str, ...]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["번호 (number)", "투표 코드 (voting code)"])
    for number, code in enumerate(codes, 1):
        writer.writerow([number, code])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def codes_sheet(campaign: Campaign, codes: tuple[str, ...]) -> str:
    title = html.escape(campaign.title.ko)
    title_en = html.escape(campaign.title.en) if campaign.title.en else ""
    voting = campaign.phase(PhaseName.VOTING)
    period = period_en = ""
    if voting is not None and voting.end is not None:
        zone = campaign.timezone
        period = (f"투표 기간: {format_when(voting.start, zone, 'ko')} ~ "
                  f"{format_when(voting.end, zone, 'ko')}")
        period_en = (f"Voting: {format_when(voting.start, zone, 'en')} – "
                     f"{format_when(voting.end, zone, 'en')}")
    slips = "\n".join(f"""<section class="slip">
<p class="title">{title}</p>
{f'<p class="title-en">{title_en}</p>' if title_en else ''}
<p class="code">{html.escape(code)}</p>
<p class="how">{HOW_KO}</p>
<p class="how-en">{HOW_EN}</p>
<p class="when">{html.escape(period)}<br>{html.escape(period_en)}</p>
</section>""" for code in codes)
    return f"""<!doctype html>
<html lang="ko">
<head>
<meta charset="utf-8">
<title>{title} · 투표 코드 (voting codes)</title>
<style>{STYLE}</style>
</head>
<body>
<main class="sheet">
{slips}
</main>
</body>
</html>
"""


def out_dir_problem(out_dir: Path, campaign: Campaign, batch: str) -> str | None:
    """Why the batch's files cannot be written in `out_dir` (made here if missing), or None.
    Checked before any code is stored: a code nobody can print is lost."""
    if out_dir.exists() and not out_dir.is_dir():
        return f"{out_dir} is not a folder"
    taken = [name for name in file_names(campaign, batch) if (out_dir / name).exists()]
    if taken:
        return f"{out_dir / taken[0]} exists"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot write to {out_dir}: {exc.strerror or exc}"
    return None


def write_code_files(out_dir: Path, campaign: Campaign, batch: str,
                     codes: tuple[str, ...]) -> tuple[Path, Path]:
    """Both files in `out_dir` (made if missing); never over an existing file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_name, html_name = file_names(campaign, batch)
    csv_path, html_path = out_dir / csv_name, out_dir / html_name
    with open(csv_path, "xb") as f:
        f.write(codes_csv(codes))
    with open(html_path, "x", encoding="utf-8") as f:
        f.write(codes_sheet(campaign, codes))
    return csv_path, html_path


def write_new_file(path: Path, data: bytes) -> str | None:
    """Write `data` to `path`, which must not exist yet; why it could not be, or None."""
    try:
        with open(path, "xb") as f:
            f.write(data)
    except FileExistsError:
        return f"{path} exists"
    except OSError as exc:
        return f"cannot write {path}: {exc.strerror or exc}"
    return None

