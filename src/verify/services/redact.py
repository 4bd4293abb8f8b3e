"""`verify report CASE --redact-other-cases`: a report to hand to a third party without
naming the archive's other investigations.

A report names other cases where they bear on this one: the case holding a copy of its
media (a derivation's other end, the same bytes, a near-duplicate, the acquisition that
restored a damaged stored copy), the case holding the earliest known appearance, and
`verify check`'s findings. `redact_other_cases` replaces, in the report dict (so in every
format alike), each other case's slug with a neutral label (`OTHER-1`, `OTHER-2`…, by
first mention; uppercase, so that it can be no slug) and drops the names and labels of
its media files, which the renderers then name by media id and SHA-256 prefix. The
integrity check's findings about another case's records (`state` and `alias` findings
whose subject is another case's record, a derivation, account or stored file this report
does not show)
are kept as findings, so their number and the check's outcome stay true, with their
subject and detail withheld.

What it does not do: free text written by people (the case summary, claims, rationales,
notes, captions, evidence, derivation notes) is shown as written, as are the earliest
known appearance's facts when another case holds it (its platform, account and URL: the
finding rests on them); media and appearance ids are archive row numbers, kept.
"""

import copy
import re
from collections.abc import Iterable
from typing import Any

LABEL = "OTHER-{n}"
WITHHELD_SUBJECT = "withheld"
WITHHELD_DETAIL = "about a record this report does not show (--redact-other-cases)"


class _Labels:
    def __init__(self, own: str, slugs: Iterable[str]) -> None:
        self.own = own
        self.labels: dict[str, str] = {}
        others = sorted({s for s in slugs if s != own}, key=lambda s: (-len(s), s))
        # "case SLUG" in our own sentences (the earliest appearance, check findings)
        self.pattern = (
            re.compile(
                r"(?<![a-z0-9-])case (" + "|".join(map(re.escape, others)) + r")(?![a-z0-9-])"
            )
            if others
            else None
        )

    def of(self, slug: Any) -> Any:
        if not isinstance(slug, str) or slug == self.own:
            return slug
        return self.labels.setdefault(slug, LABEL.format(n=len(self.labels) + 1))

    def text(self, value: Any) -> Any:
        if self.pattern is None or not isinstance(value, str):
            return value
        return self.pattern.sub(lambda m: f"case {self.of(m.group(1))}", value)

    def mentions_other(self, value: Any) -> bool:
        return bool(self.pattern and isinstance(value, str) and self.pattern.search(value))


def redact_other_cases(data: dict[str, Any], slugs: Iterable[str]) -> dict[str, Any]:
    """A copy of the report dict `data` with the other cases (`slugs`: every case of the
    archive) unnamed, as the module docstring says; `other_cases_redacted` is set."""
    out = copy.deepcopy(data)
    names = _Labels(out["case"]["slug"], slugs)
    prov = out["provenance"]
    first = prov["earliest"]
    first["case"] = names.of(first["case"])
    for other in first["uncertain_elsewhere"]:
        other["case"] = names.of(other["case"])
    first["message"] = names.text(first["message"])
    for event in prov["timeline"]:
        event["case"] = names.of(event["case"])
        event["text"] = names.text(event["text"])
    for d in prov["derivations"]:
        for end in (d["child"], d["parent"]):
            if end is not None and end.get("case") is not None:
                end["case"] = names.of(end["case"])
                end["name"] = end["label"] = None
    for m in out["media"]:
        for held in (*m["exact_copies"], *m["near_duplicates"]):
            held["case"], held["name"] = names.of(held["case"]), None
        for restored in m["restorations"]:
            restored["case"] = names.of(restored["case"])
    shown = _shown(out)
    for f in out["integrity"]["check"]["findings"]:
        about_records = f["category"] in ("state", "alias")
        if about_records and not _about_this_report(f["subject"], names, shown):
            f["subject"], f["detail"] = WITHHELD_SUBJECT, WITHHELD_DETAIL
        else:
            f["subject"], f["detail"] = names.text(f["subject"]), names.text(f["detail"])
    out["other_cases_redacted"] = True
    return out


def _shown(data: dict[str, Any]) -> dict[str, set[Any]]:
    """The derivations, accounts and stored files (SHA-256) the report shows."""
    prov = data["provenance"]
    accounts = {a["account"]["id"] for a in prov["appearances"] if a["account"]}
    accounts |= {a["account"]["id"] for g in prov["attributions"] for a in g["items"]}
    return {
        "derivation": {d["id"] for d in prov["derivations"]},
        "account": accounts,
        "file": {m["sha256"] for m in data["media"]},
    }


_DERIVATION = re.compile(r"derivation (\d+)")
_ACCOUNT = re.compile(r"account (\d+) ")
_FILE = re.compile(r"file sha256:([0-9a-f]+)")


def _about_this_report(subject: Any, names: _Labels, shown: dict[str, set[Any]]) -> bool:
    """Whether a `state` finding's subject is a record this report shows or this case's
    (`verify check`'s subjects: docs/json.md), rather than another case's."""
    if not isinstance(subject, str) or names.mentions_other(subject):
        return False
    if m := _DERIVATION.fullmatch(subject):
        return int(m.group(1)) in shown["derivation"]
    if subject.startswith("account"):
        found = _ACCOUNT.match(subject)
        return found is not None and int(found.group(1)) in shown["account"]
    if m := _FILE.fullmatch(subject):
        return any(sha.startswith(m.group(1)) for sha in shown["file"])
    return f"case {names.own}" in subject
