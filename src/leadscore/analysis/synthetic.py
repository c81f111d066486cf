"""Lead histories made in code, shaped like public lead data sets other than X Education, to
develop and check `leadscore calibrate` against data it was not tuned on.

- `bank_campaign`: a bank's outbound call campaign (like the UCI "bank marketing" data: 45k
  calls, 16 columns, ~12% say yes). Numeric and categorical columns, "unknown" answers, and
  real interactions: a long call counts for more on a mobile phone, a previous success
  counts only if it was recent, older clients without a mortgage, students in the months
  the campaign ran well. An additive model cannot express these; trees can.
- `inbound_mqls`: a marketplace's inbound MQLs (like Olist's marketing funnel: 8k MQLs, 3
  columns, ~10% become sellers): the landing page (hundreds of pages, most with a handful
  of leads, each converting at its own rate), the origin and the first-contact date.

Each returns (header, rows, mapping YAML); `write` puts the CSV and the mapping in a folder.
Seeded: the same arguments give the same rows.
"""

from __future__ import annotations

import csv
import math
import random
from datetime import date, timedelta
from pathlib import Path

Rows = list[list[str]]

BANK_MAPPING = """\
# A bank's outbound call campaign (synthetic, shaped like the UCI bank marketing data).
id: id
outcome: {column: y, positive: ["yes"]}
missing: ["", "unknown"]
facts:
  - {column: age, fact: age, numeric: true}
  - {column: job, fact: job}
  - {column: marital, fact: marital}
  - {column: education, fact: education}
  - {column: default, fact: in_default}
  - {column: balance, fact: balance, numeric: true}
  - {column: housing, fact: housing_loan}
  - {column: loan, fact: personal_loan}
  - {column: contact, fact: contact}
  - {column: day, fact: day, numeric: true}
  - {column: month, fact: month}
  - {column: duration, fact: call_seconds, numeric: true}
  - {column: pdays, fact: days_since_last_campaign, numeric: true, missing: ["-1"]}
  - {column: poutcome, fact: previous_outcome}
events:
  - {column: campaign, kind: count, event: call}
  - {column: previous, kind: count, event: earlier_call}
"""

MQL_MAPPING = """\
# A marketplace's inbound MQLs (synthetic, shaped like Olist's marketing funnel).
id: mql_id
outcome: {column: closed, positive: ["1"]}
created_at: first_contact_date
facts:
  - {column: landing_page_id, fact: landing_page}
  - {column: origin, fact: origin}
"""

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_JOBS = [("blue-collar", 9.7, -0.3), ("management", 9.5, 0.15), ("technician", 7.6, 0.0), ("admin.", 5.2, 0.05),
         ("services", 4.2, -0.2), ("retired", 2.3, 0.5), ("self-employed", 1.6, 0.0), ("entrepreneur", 1.5, -0.2),
         ("unemployed", 1.3, 0.2), ("housemaid", 1.2, -0.2), ("student", 0.9, 0.6), ("unknown", 0.3, 0.0)]


def _logistic(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def bank_campaign(n: int = 30_000, seed: int = 0) -> tuple[list[str], Rows, str]:
    rng = random.Random(seed)
    header = ["id", "age", "job", "marital", "education", "default", "balance", "housing", "loan", "contact",
              "day", "month", "duration", "campaign", "pdays", "previous", "poutcome", "y"]
    month_weights = [3, 6, 1, 6, 30, 12, 15, 14, 1.3, 1.6, 9, 0.5]
    month_effect = dict(zip(_MONTHS, [-0.2, 0.1, 1.4, 0.3, -0.5, -0.2, -0.3, -0.1, 1.2, 1.3, -0.1, 1.4]))
    rows: Rows = []
    for i in range(n):
        job, _, job_effect = rng.choices(_JOBS, weights=[w for _, w, _ in _JOBS])[0]
        if job == "student":
            age = int(rng.uniform(18, 30))
        elif job == "retired":
            age = int(rng.uniform(55, 90))
        else:
            age = int(min(max(rng.gauss(40, 9.5), 20), 70))
        marital = rng.choices(["married", "single", "divorced"],
                              weights=[2, 6, 0.3] if age < 30 else [6, 2.5, 1.2])[0]
        education = rng.choices(["secondary", "tertiary", "primary", "unknown"],
                                weights=[5, 4 if job == "management" else 2, 1.5, 0.4])[0]
        default = "yes" if rng.random() < 0.018 else "no"
        balance = int(rng.lognormvariate(6.6, 1.3)) - (int(rng.expovariate(1 / 400)) if rng.random() < 0.1 else 0)
        housing = "yes" if rng.random() < (0.3 if age > 55 or job == "student" else 0.6) else "no"
        loan = "yes" if rng.random() < 0.16 else "no"
        contact = rng.choices(["cellular", "telephone", "unknown"], weights=[6.5, 0.6, 2.9])[0]
        day = rng.randint(1, 31)
        month = rng.choices(_MONTHS, weights=month_weights)[0]
        duration = max(1, int(rng.lognormvariate(5.2, 0.8)))
        campaign = 1 + min(int(rng.expovariate(1 / 1.8)), 50)
        contacted_before = rng.random() < 0.18
        pdays = rng.randint(1, 400) if contacted_before else -1
        previous = (1 + int(rng.expovariate(1 / 1.5))) if contacted_before else 0
        poutcome = (rng.choices(["failure", "other", "success"], weights=[6, 2, 2])[0] if contacted_before
                    else "unknown")

        minutes = math.log(duration / 180)
        logit = -2.2 + job_effect + month_effect[month]
        # a long call says more on a mobile than on a number found on a list
        logit += minutes * (2.4 if contact == "cellular" else 0.8)
        logit += 1.0 if duration > 500 and contact != "unknown" else 0.0
        # a success in the last campaign counts if it was recent
        if poutcome == "success":
            logit += 2.6 if pdays < 180 else 0.3
        elif poutcome == "failure":
            logit += -0.2
        logit += -0.7 if housing == "yes" else 0.0
        logit += -0.4 if loan == "yes" else 0.0
        logit += -0.5 if default == "yes" else 0.0
        # older clients without a mortgage, young singles in the good months
        logit += 1.3 if age >= 60 and housing == "no" else 0.0
        logit += 1.2 if age < 28 and month_effect[month] > 1 else 0.0
        logit += 0.15 * math.log1p(max(balance, 0)) / 3 - (0.3 if balance < 0 else 0.0)
        logit += -0.12 * min(campaign, 8)
        logit += -1.2 if contact == "unknown" and month in ("may", "jun") else 0.0
        logit += 0.2 if education == "tertiary" else 0.0
        y = rng.random() < _logistic(logit)
        rows.append([f"b{i:05d}", str(age), job, marital, education, default, str(balance), housing, loan, contact,
                     str(day), month, str(duration), str(campaign), str(pdays), str(previous), poutcome,
                     "yes" if y else "no"])
    return header, rows, BANK_MAPPING


def inbound_mqls(n: int = 8_000, seed: int = 0, pages: int = 415) -> tuple[list[str], Rows, str]:
    rng = random.Random(seed)
    header = ["mql_id", "first_contact_date", "landing_page_id", "origin", "closed"]
    ids = [f"{rng.getrandbits(128):032x}" for _ in range(pages)]
    # a long tail: a few pages take most leads, most pages have a handful
    weights = [1 / (k + 1) ** 1.1 for k in range(pages)]
    page_effect = {p: rng.gauss(0, 0.9) for p in ids}
    origins = [("organic_search", 29, 0.1), ("paid_search", 20, 0.05), ("social", 17, -0.35), ("unknown", 14, -0.3),
               ("direct_traffic", 6, 0.0), ("email", 6, -0.7), ("referral", 3, 0.3), ("other", 2, -0.4),
               ("display", 1.5, -0.5), ("other_publicities", 0.8, -0.2), ("", 0.7, 0.0)]
    start = date(2017, 6, 1)
    rows: Rows = []
    for i in range(n):
        page = rng.choices(ids, weights=weights)[0]
        origin, _, origin_effect = rng.choices(origins, weights=[w for _, w, _ in origins])[0]
        day = int(rng.triangular(0, 365, 300))
        logit = -2.6 + page_effect[page] + origin_effect + 0.5 * (day / 365 - 0.6)
        y = rng.random() < _logistic(logit)
        rows.append([f"{rng.getrandbits(128):032x}", (start + timedelta(days=day)).isoformat(), page, origin,
                     "1" if y else "0"])
    return header, rows, MQL_MAPPING


def write(folder: str | Path, name: str, made: tuple[list[str], Rows, str]) -> tuple[Path, Path]:
    """`name.csv` and `name.mapping.yaml` in `folder`: (data, mapping)."""
    folder = Path(folder)
    header, rows, mapping = made
    data = folder / f"{name}.csv"
    with data.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    mapping_path = folder / f"{name}.mapping.yaml"
    mapping_path.write_text(mapping, encoding="utf-8")
    return data, mapping_path
