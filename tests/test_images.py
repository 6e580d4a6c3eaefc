"""Case pictures: an https address shows as a large preview above the card; a file next to the
campaign file is uploaded once as a photo and reused by its file id."""

from __future__ import annotations

import pytest

from bot.campaign_file import CampaignFileError, parse_campaign
from tests.conftest import KIM, small_campaign

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


def _with_images(local: str, remote: str) -> dict:
    raw = small_campaign()
    raw["cases"][0]["image"] = local
    raw["cases"][1]["image"] = remote
    return raw


async def test_local_and_remote_pictures(services, telegram, tmp_path):
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "case1.png").write_bytes(PNG)
    spec = parse_campaign(
        _with_images("pics/case1.png", "https://example.org/case2.jpg"), base_dir=tmp_path
    )
    assert spec.cases[0].image == str(tmp_path / "pics" / "case1.png")
    await services.campaigns.load(spec)

    await telegram.send(KIM, "/start")
    await telegram.press(KIM, "사례 보기")
    calls = await telegram.press(KIM, "사례 제목 01번")
    assert [c.method for c in calls if c.method != "answerCallbackQuery"] == [
        "sendPhoto", "sendMessage"]
    assert calls[1].params["caption"] == "사례 제목 01번"
    assert "<b>사례 제목 01번</b>" in calls[2].text

    # the second time the picture is not uploaded again: its file id is reused
    await telegram.press(KIM, "목록으로")
    calls = await telegram.press(KIM, "사례 제목 01번")
    photo = next(c for c in calls if c.method == "sendPhoto")
    assert photo.params["photo"] == "photo-1"

    await telegram.press(KIM, "목록으로")
    calls = await telegram.press(KIM, "사례 제목 02번")
    card = next(c for c in calls if c.method == "editMessageText")
    preview = card.params["link_preview_options"]
    assert preview["url"] == "https://example.org/case2.jpg"
    assert preview["show_above_text"] is True


@pytest.mark.parametrize(
    ("image", "message"),
    [("missing.png", "no such file"), ("notes.txt", "must be a picture"),
     ("http://example.org/a.jpg", "https")],
)
def test_bad_pictures_are_refused(tmp_path, image, message):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(CampaignFileError) as caught:
        parse_campaign(_with_images(image, "https://example.org/b.jpg"), base_dir=tmp_path)
    problem = caught.value.problems[0]
    assert problem.field == "cases[0] (case-1).image"
    assert message in problem.message
