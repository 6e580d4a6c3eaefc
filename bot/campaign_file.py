"""Campaign files: the TOML that staff write. `parse_campaign_file` validates everything and
reports each problem with the field it concerns; nothing here touches the database."""

from __future__ import annotations

import contextlib
import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.domain import (
    PHASE_ORDER,
    AwardTier,
    CaseOrder,
    CaseText,
    Identity,
    JudgingRules,
    Option,
    Phase,
    PhaseName,
    RankingRules,
    SubmissionRules,
    Text,
    VotingRules,
)

KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
# Limits on what a citizen reads on a phone; the same as for cases submitted by chat.
TITLE_LENGTH = (5, 80)
SUMMARY_LENGTH = (1, 300)
BODY_LENGTH = (50, 3000)
ORGANIZATION_LENGTH = (1, 100)
CAMPAIGN_TITLE_LENGTH = (1, 100)
DESCRIPTION_LENGTH = (1, 1000)
NAME_LENGTH = (1, 40)
MAX_VOTES_PER_CITIZEN = 20
MAX_CASES_PER_CITIZEN = 50
MAX_REMINDER_HOURS = 24 * 30
MAX_RETENTION_DAYS = 365 * 5

E = TypeVar("E", bound=Enum)

CASE_TEXT_LIMITS = {
    "title": TITLE_LENGTH,
    "summary": SUMMARY_LENGTH,
    "body": BODY_LENGTH,
    "organization": ORGANIZATION_LENGTH,
}


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class CampaignFileError(Exception):
    def __init__(self, path: str, problems: list[Problem]) -> None:
        super().__init__(f"{path}: {len(problems)} problem(s)")
        self.path = path
        self.problems = problems


@dataclass(frozen=True)
class CaseSpec:
    key: str
    district: str
    neighbourhood: str
    category: str
    ko: CaseText
    en: CaseText | None
    image: str | None


@dataclass(frozen=True)
class CampaignSpec:
    slug: str
    title: Text
    description: Text
    timezone: str
    phases: tuple[Phase, ...]
    rules: VotingRules
    districts: tuple[Option, ...]
    categories: tuple[Option, ...]
    cases: tuple[CaseSpec, ...]
    sample_data: bool
    judging: JudgingRules = JudgingRules()
    ranking: RankingRules = RankingRules()
    awards: tuple[AwardTier, ...] = ()
    submission: SubmissionRules = SubmissionRules()
    retention_days: int = 90


def parse_campaign_file(path: str | Path) -> CampaignSpec:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CampaignFileError(str(path), [Problem("file", "not found")]) from None
    except OSError as exc:  # a folder, no permission...
        raise CampaignFileError(
            str(path), [Problem("file", f"cannot be read: {exc.strerror or exc}")]
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CampaignFileError(str(path), [Problem("file", f"not valid TOML: {exc}")]) from None
    except RecursionError:
        # tomllib parses arrays and inline tables by recursion: thousands of them inside each
        # other exhaust Python's stack. No campaign file nests more than a few levels.
        raise CampaignFileError(str(path), [Problem(
            "file", "too deeply nested (arrays or inline tables inside each other)")]) from None
    return parse_campaign(raw, source=str(path), base_dir=path.parent)


def parse_campaign(
    raw: dict[str, Any], source: str = "campaign", base_dir: Path | None = None
) -> CampaignSpec:
    """Validate a parsed campaign. Image paths are resolved against `base_dir` (the folder of
    the campaign file)."""
    v = _Validator(base_dir or Path.cwd())
    spec = v.campaign(raw)
    if v.problems:
        raise CampaignFileError(source, v.problems)
    assert spec is not None
    return spec


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


class _Validator:
    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.problems: list[Problem] = []

    def image(self, table: dict, where: str) -> str | None:
        """An https URL as it is, or a local picture resolved to an absolute path."""
        value = self.string(table, "image", where, (1, 500), required=False)
        if value is None:
            return value
        if value.startswith("https://"):
            if not urlsplit(value).netloc:
                self.fail(f"{where}image", "an https:// address needs a host name")
                return None
            return value
        if value.startswith("http://"):
            self.fail(f"{where}image", "use an https:// address")
            return None
        path = (self.base_dir / value).resolve()
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            self.fail(f"{where}image", f"must be a picture ({', '.join(IMAGE_SUFFIXES)})")
            return None
        if not path.is_file():
            self.fail(f"{where}image", f"no such file: {path}")
            return None
        return str(path)

    def fail(self, field: str, message: str) -> None:
        self.problems.append(Problem(field, message))

    def unknown_keys(self, table: dict, allowed: set[str], where: str) -> None:
        for key in sorted(set(table) - allowed):
            self.fail(f"{where}{key}", "unknown field")

    def string(
        self, table: dict, key: str, where: str, limits: tuple[int, int], required: bool = True
    ) -> str | None:
        value = table.get(key)
        field = f"{where}{key}"
        if value is None:
            if required:
                self.fail(field, "missing")
            return None
        if not isinstance(value, str):
            self.fail(field, "must be text")
            return None
        value = value.strip()
        low, high = limits
        if len(value) < low:
            self.fail(field, "is empty" if low == 1 else f"too short ({len(value)} < {low} chars)")
            return None
        if len(value) > high:
            self.fail(field, f"too long ({len(value)} > {high} chars)")
            return None
        return value

    def key(self, table: dict, where: str) -> str | None:
        value = table.get("key")
        if not isinstance(value, str) or not KEY_PATTERN.match(value):
            self.fail(f"{where}key", "must be 1-40 lowercase letters, digits or hyphens")
            return None
        return value

    def text(self, raw: Any, field: str, limits: tuple[int, int]) -> Text | None:
        if not isinstance(raw, dict):
            self.fail(field, "missing: give ko (Korean, required) and en (English, optional)")
            return None
        self.unknown_keys(raw, {"ko", "en"}, f"{field}.")
        ko = self.string(raw, "ko", f"{field}.", limits)
        en = self.string(raw, "en", f"{field}.", limits, required=False)
        return Text(ko, en) if ko else None

    def campaign(self, raw: dict[str, Any]) -> CampaignSpec | None:
        self.unknown_keys(
            raw,
            {"slug", "title", "description", "timezone", "phases", "voting", "districts",
             "categories", "cases", "sample_data", "judging", "ranking", "awards",
             "submission", "privacy"},
            "",
        )
        slug = raw.get("slug")
        if not isinstance(slug, str) or not KEY_PATTERN.match(slug):
            self.fail("slug", "must be 1-40 lowercase letters, digits or hyphens")
        title = self.text(raw.get("title"), "title", CAMPAIGN_TITLE_LENGTH)
        description = self.text(raw.get("description"), "description", DESCRIPTION_LENGTH)
        timezone = raw.get("timezone", "Asia/Seoul")
        zone = None
        with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo(timezone) if isinstance(timezone, str) else None
        if zone is None:
            self.fail("timezone", f"unknown timezone {timezone!r}")
        phases = self.phases(raw.get("phases"), zone) if zone else ()
        rules = self.rules(raw.get("voting", {}))
        districts = self.options(raw.get("districts"), "districts", with_neighbourhoods=True)
        categories = self.options(raw.get("categories"), "categories", with_neighbourhoods=False)
        cases = self.cases(raw.get("cases", []), districts, categories)
        sample = raw.get("sample_data", False)
        if not isinstance(sample, bool):
            self.fail("sample_data", "must be true or false")
        judging = self.judging(raw.get("judging", {}))
        ranking = self.ranking(raw.get("ranking", {}))
        awards = self.awards(raw.get("awards", []))
        submission = self.submission(raw.get("submission", {}))
        retention_days = self.retention_days(raw.get("privacy", {}))
        if self.problems:
            return None
        return CampaignSpec(
            slug=slug, title=title, description=description, timezone=timezone,
            phases=phases, rules=rules, districts=districts, categories=categories,
            cases=cases, sample_data=sample, judging=judging, ranking=ranking, awards=awards,
            submission=submission, retention_days=retention_days,
        )

    def retention_days(self, raw: Any) -> int:
        """[privacy] retention_days: how long after the last phase ends the campaign's
        personal data is kept, until `chamyeo purge` removes it."""
        if not isinstance(raw, dict):
            self.fail("privacy", "must be a table")
            return 90
        self.unknown_keys(raw, {"retention_days"}, "privacy.")
        days = raw.get("retention_days", 90)
        if isinstance(days, bool) or not isinstance(days, int) or not (
            1 <= days <= MAX_RETENTION_DAYS
        ):
            self.fail("privacy.retention_days", f"must be a number of days 1-{MAX_RETENTION_DAYS}")
            return 90
        return days

    def submission(self, raw: Any) -> SubmissionRules:
        if not isinstance(raw, dict):
            self.fail("submission", "must be a table")
            return SubmissionRules()
        self.unknown_keys(raw, {"cases_per_citizen"}, "submission.")
        limit = raw.get("cases_per_citizen", SubmissionRules.cases_per_citizen)
        if isinstance(limit, bool) or not isinstance(limit, int) or not (
            1 <= limit <= MAX_CASES_PER_CITIZEN
        ):
            self.fail("submission.cases_per_citizen",
                      f"must be a number 1-{MAX_CASES_PER_CITIZEN}")
            return SubmissionRules()
        return SubmissionRules(cases_per_citizen=limit)

    def judging(self, raw: Any) -> JudgingRules:
        if not isinstance(raw, dict):
            self.fail("judging", "must be a table")
            return JudgingRules()
        self.unknown_keys(raw, {"scale_min", "scale_max", "criteria"}, "judging.")
        low, high = raw.get("scale_min", 0), raw.get("scale_max", 100)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)) \
                or not 0 <= low < high <= 1000:
            self.fail("judging.scale_max", "scale_min and scale_max: whole numbers, "
                      "0 <= min < max <= 1000")
            low, high = 0, 100
        criteria = []
        for i, item in enumerate(raw.get("criteria", [])):
            text = self.text(item, f"judging.criteria[{i}]", NAME_LENGTH)
            if text:
                criteria.append(text)
        return JudgingRules(low, high, tuple(criteria))

    def ranking(self, raw: Any) -> RankingRules:
        if not isinstance(raw, dict):
            self.fail("ranking", "must be a table")
            return RankingRules()
        self.unknown_keys(raw, {"citizen_weight", "judge_weight"}, "ranking.")
        citizen, judge = raw.get("citizen_weight", 0.3), raw.get("judge_weight", 0.7)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1
                      for v in (citizen, judge))
        if not numbers or abs(citizen + judge - 1) > 1e-9:
            self.fail("ranking", "citizen_weight and judge_weight: between 0 and 1, adding up "
                      "to 1 (e.g. 0.3 and 0.7)")
            return RankingRules()
        return RankingRules(float(citizen), float(judge))

    def awards(self, raw: Any) -> tuple[AwardTier, ...]:
        if not isinstance(raw, list):
            self.fail("awards", "must be a list of [[awards]] with ko, en and count")
            return ()
        tiers = []
        for i, item in enumerate(raw):
            at = f"awards[{i}]"
            if not isinstance(item, dict):
                self.fail(at, "must be a table")
                continue
            self.unknown_keys(item, {"ko", "en", "count"}, f"{at}.")
            name = self.text({k: item[k] for k in ("ko", "en") if k in item}, at, NAME_LENGTH)
            count = item.get("count")
            if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100:
                self.fail(f"{at}.count", "must be a number 1-100")
                continue
            if name:
                tiers.append(AwardTier(name, count))
        return tuple(tiers)

    def instant(self, value: Any, field: str, zone: ZoneInfo) -> datetime | None:
        if isinstance(value, str):
            if len(value.strip()) <= 10:  # "2024-12-01" would silently mean midnight
                self.fail(field, "give a time as well as a date, e.g. 2024-11-28T09:00")
                return None
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                self.fail(field, f"not an ISO-8601 time: {value!r}")
                return None
        if isinstance(value, date) and not isinstance(value, datetime):
            self.fail(field, "give a time as well as a date, e.g. 2024-11-28T09:00")
            return None
        if not isinstance(value, datetime):
            self.fail(field, "missing or not a time")
            return None
        return value.replace(tzinfo=zone) if value.tzinfo is None else value

    def phases(self, raw: Any, zone: ZoneInfo) -> tuple[Phase, ...]:
        if not isinstance(raw, dict):
            self.fail("phases", "missing: give at least [phases.voting] with start and end")
            return ()
        self.unknown_keys(raw, {p.value for p in PHASE_ORDER}, "phases.")
        found: list[Phase] = []
        for name in PHASE_ORDER:
            table = raw.get(name.value)
            where = f"phases.{name.value}"
            if table is None:
                if name is PhaseName.VOTING:
                    self.fail(where, "missing")
                continue
            if not isinstance(table, dict):
                self.fail(where, "must be a table")
                continue
            if name is PhaseName.AWARDS:
                self.unknown_keys(table, {"at"}, f"{where}.")
                at = self.instant(table.get("at"), f"{where}.at", zone)
                if at:
                    found.append(Phase(name, at))
                continue
            self.unknown_keys(table, {"start", "end"}, f"{where}.")
            start = self.instant(table.get("start"), f"{where}.start", zone)
            end = self.instant(table.get("end"), f"{where}.end", zone)
            if start and end:
                if end <= start:
                    self.fail(f"{where}.end", "must be after start")
                    continue
                found.append(Phase(name, start, end))
        for before, after in zip(found, found[1:], strict=False):
            before_end = before.end or before.start
            if after.start < before_end:
                self.fail(
                    f"phases.{after.name.value}",
                    f"starts before {before.name.value} ends: phases must be in order "
                    "(submission, voting, review, awards) and must not overlap",
                )
        return tuple(found)

    def rules(self, raw: Any) -> VotingRules:
        if not isinstance(raw, dict):
            self.fail("voting", "must be a table")
            return VotingRules()
        self.unknown_keys(
            raw, {"votes_per_citizen", "allow_change", "show_running_tally", "reminder_hours",
                  "identity", "order"},
            "voting.",
        )
        identity = self.choice(raw, "identity", Identity, Identity.ACCOUNT)
        order = self.choice(raw, "order", CaseOrder, CaseOrder.RANDOM)
        votes = raw.get("votes_per_citizen", 1)
        if isinstance(votes, bool) or not isinstance(votes, int) or not (
            1 <= votes <= MAX_VOTES_PER_CITIZEN
        ):
            self.fail("voting.votes_per_citizen", f"must be a number 1-{MAX_VOTES_PER_CITIZEN}")
            votes = 1
        flags = {}
        for name, default in (("allow_change", True), ("show_running_tally", False)):
            value = raw.get(name, default)
            if not isinstance(value, bool):
                self.fail(f"voting.{name}", "must be true or false")
                value = default
            flags[name] = value
        reminders = raw.get("reminder_hours", [24, 1])
        if not isinstance(reminders, list) or not all(
            isinstance(h, int | float) and not isinstance(h, bool) and 0 < h <= MAX_REMINDER_HOURS
            for h in reminders
        ):
            self.fail("voting.reminder_hours",
                      f"must be a list of hours before voting closes, e.g. [24, 1] "
                      f"(each above 0, at most {MAX_REMINDER_HOURS})")
            reminders = [24, 1]
        return VotingRules(votes_per_citizen=votes, reminder_hours=tuple(reminders),
                           identity=identity, order=order, **flags)

    def choice(self, raw: dict[str, Any], name: str, kind: type[E], default: E) -> E:
        """[voting] `name`: one of the values of the enum `kind`."""
        value = raw.get(name, default.value)
        try:
            return kind(value)
        except ValueError:
            names = ", ".join(f'"{k.value}"' for k in kind)
            self.fail(f"voting.{name}", f"must be one of {names}")
            return default

    def options(self, raw: Any, where: str, with_neighbourhoods: bool) -> tuple[Option, ...]:
        if not isinstance(raw, list) or not raw:
            self.fail(where, f"missing: give at least one [[{where}]] with key, ko and en")
            return ()
        allowed = {"key", "ko", "en"} | ({"neighbourhoods"} if with_neighbourhoods else set())
        options: list[Option] = []
        seen: set[str] = set()
        for i, table in enumerate(raw):
            at = f"{where}[{i}]."
            if not isinstance(table, dict):
                self.fail(at.rstrip("."), "must be a table")
                continue
            self.unknown_keys(table, allowed, at)
            key = self.key(table, at)
            ko = self.string(table, "ko", at, NAME_LENGTH)
            en = self.string(table, "en", at, NAME_LENGTH, required=False)
            if key is not None and key in seen:
                self.fail(f"{at}key", f"duplicate key {key!r}")
            seen.add(key)
            hoods = self.neighbourhoods(table.get("neighbourhoods", []), f"{at}neighbourhoods")
            if key and ko:
                options.append(Option(key, Text(ko, en), hoods))
        return tuple(options)

    def neighbourhoods(self, raw: Any, where: str) -> tuple[Text, ...]:
        if not isinstance(raw, list):
            self.fail(where, "must be a list")
            return ()
        hoods: list[Text] = []
        for i, item in enumerate(raw):
            if isinstance(item, str):
                item = {"ko": item}
            if not isinstance(item, dict):
                self.fail(f"{where}[{i}]", "must be a name or { ko = ..., en = ... }")
                continue
            text = self.text(item, f"{where}[{i}]", NAME_LENGTH)
            if text:
                hoods.append(text)
        names = [h.ko for h in hoods]
        for name in sorted({n for n in names if names.count(n) > 1}):
            self.fail(where, f"duplicate neighbourhood {name!r}")
        return tuple(hoods)

    def cases(
        self, raw: Any, districts: tuple[Option, ...], categories: tuple[Option, ...]
    ) -> tuple[CaseSpec, ...]:
        if not isinstance(raw, list):
            self.fail("cases", "must be a list of [[cases]]")
            return ()
        by_district = {d.key: d for d in districts}
        category_keys = {c.key for c in categories}
        specs: list[CaseSpec] = []
        seen_keys: dict[str, int] = {}
        seen_titles: dict[tuple[str, str], int] = {}
        for i, table in enumerate(raw):
            at = f"cases[{i}]"
            if not isinstance(table, dict):
                self.fail(at, "must be a table")
                continue
            if isinstance(table.get("key"), str):
                at = f"cases[{i}] ({table['key']})"
            self.unknown_keys(
                table, {"key", "district", "neighbourhood", "category", "image", "ko", "en"},
                f"{at}.",
            )
            key = self.key(table, f"{at}.")
            if key in seen_keys:
                self.fail(f"{at}.key", f"duplicate key, also cases[{seen_keys[key]}]")
            elif key:
                seen_keys[key] = i
            district = table.get("district")
            if not isinstance(district, str) or district not in by_district:
                self.fail(f"{at}.district", f"unknown district {district!r}")
                district = None
            neighbourhood = self.string(table, "neighbourhood", f"{at}.", NAME_LENGTH)
            if district and neighbourhood:
                known = {h.ko for h in by_district[district].neighbourhoods}
                if known and neighbourhood not in known:
                    self.fail(f"{at}.neighbourhood",
                              f"{neighbourhood!r} is not a neighbourhood of {district!r}")
            category = table.get("category")
            if not isinstance(category, str) or category not in category_keys:
                self.fail(f"{at}.category", f"unknown category {category!r}")
                category = None
            image = self.image(table, f"{at}.")
            ko = self.case_text(table.get("ko"), f"{at}.ko", required=True)
            en = self.case_text(table.get("en"), f"{at}.en", required=False)
            for language, text in (("ko", ko), ("en", en)):
                if text is None:
                    continue
                title = (language, text.title.casefold())
                if title in seen_titles:
                    self.fail(f"{at}.{language}.title",
                              f"duplicate title, also cases[{seen_titles[title]}]")
                else:
                    seen_titles[title] = i
            if key and ko and district and category:
                specs.append(CaseSpec(key, district, neighbourhood, category, ko, en, image))
        return tuple(specs)

    def case_text(self, raw: Any, where: str, required: bool) -> CaseText | None:
        if raw is None:
            if required:
                self.fail(where, "missing: Korean title, summary, body and organization")
            return None
        if not isinstance(raw, dict):
            self.fail(where, "must be a table")
            return None
        self.unknown_keys(raw, set(CASE_TEXT_LIMITS), f"{where}.")
        values = {
            name: self.string(raw, name, f"{where}.", limits)
            for name, limits in CASE_TEXT_LIMITS.items()
        }
        if any(value is None for value in values.values()):
            return None
        return CaseText(**values)
