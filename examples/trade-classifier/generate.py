"""Generate trade / apprenticeship job descriptions labelled with one of 10 trades (the trade classifier example).

    python examples/trade-classifier/generate.py --out examples/trade-classifier/data --train 2000 --eval 200 --seed 0

Writes train.jsonl and eval.jsonl (fields `text`, `label`) and labels.txt (one label a line, in prompt order).
The same seed gives the same files. The vocabulary (titles, duties, tools, certifications, employers, settings,
apprenticeship programs, pay ranges per trade) lives in trades.json beside this script.

What makes it a real classification task rather than keyword matching:
  - about 45% of postings never name the trade (no label word anywhere: "Bricklayer", "Fleet Mechanic",
    "CNC Operator"); the duties, tools and certifications carry the signal;
  - about 20% are hard cases: a duty shared with a neighbouring trade (gas piping for HVAC and plumbers,
    thermostat wiring for electricians and HVAC, shop drawings for welders and machinists, ...) and a mention
    of other trades on the same site ("you will work alongside electricians and plumbers");
  - six writing styles (full posting, bulleted, apprenticeship program notice, short classified, recruiter
    message, job-board fields), levels from helper to foreman, pay as hourly, annual, scale or DOE.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
VOCAB = json.loads((HERE / "trades.json").read_text())
TRADES: dict = VOCAB["trades"]
LABELS = list(TRADES)
"""The label set, in the order prompts list it."""
VEILED_FRACTION = 0.45
HARD_FRACTION = 0.2

LEVELS = [  # (name, share of the trade's pay range, experience line)
    ("helper", 0.0, "No experience needed; we train"),
    ("pre-apprentice", 0.05, "No experience required, just reliable transportation and a willingness to learn"),
    ("first-year apprentice", 0.12, "High school diploma or GED; 0-1 years of experience"),
    ("second-year apprentice", 0.25, "1+ year in the trade or completed year one of an apprenticeship"),
    ("third-year apprentice", 0.4, "2-3 years of field experience"),
    ("fourth-year apprentice", 0.55, "3+ years of field experience and related classroom hours"),
    ("journeyman", 0.75, "4+ years of experience; able to work without supervision"),
    ("lead", 0.9, "5+ years of experience, including leading a small crew"),
    ("foreman", 1.0, "7+ years of experience and 2+ years running jobs"),
]
PLURALS = {"electrician": "electricians", "plumber": "plumbers", "HVAC technician": "HVAC techs",
           "carpenter": "carpenters", "welder": "welders", "automotive technician": "auto technicians",
           "machinist": "machinists", "mason": "masons", "roofer": "roofers", "painter": "painters"}
SURNAMES = ["Anderson", "Brooks", "Castillo", "Delgado", "Eriksen", "Fitzgerald", "Garcia", "Henderson", "Ibarra",
            "Jensen", "Kowalski", "Lindqvist", "Martinez", "Nguyen", "O'Brien", "Patel", "Quinlan", "Ramirez",
            "Schultz", "Thompson", "Underwood", "Vasquez", "Whitaker", "Yamamoto", "Zimmerman", "Okafor", "Novak",
            "Moreau", "Dubois", "Haugen", "McAllister", "Sorensen", "Bianchi", "Kaur", "Oyelaran", "Tran"]
PLACE_WORDS = ["Summit", "Keystone", "Blue Ridge", "Lakeshore", "Pioneer", "Cornerstone", "Northstar", "Red Oak",
               "Granite State", "Prairie", "Cascade", "Riverbend", "Heritage", "Ironwood", "Liberty", "Coastal"]
GENERIC_SUFFIXES = ["Construction", "Contracting", "Building Group", "Industrial Services", "Facility Services",
                    "& Sons", "Group", "Services LLC", "Companies", "General Contractors"]
CITIES = ["Columbus, OH", "Denver, CO", "Tulsa, OK", "Spokane, WA", "Raleigh, NC", "Boise, ID", "Omaha, NE",
          "Fresno, CA", "Pittsburgh, PA", "Milwaukee, WI", "Knoxville, TN", "Albuquerque, NM", "Tucson, AZ",
          "Des Moines, IA", "Richmond, VA", "Grand Rapids, MI", "Baton Rouge, LA", "Salt Lake City, UT",
          "Savannah, GA", "Providence, RI", "Wichita, KS", "Lexington, KY", "Reno, NV", "Portland, ME",
          "Anchorage, AK", "Fargo, ND", "El Paso, TX", "Houston, TX", "Jacksonville, FL", "Rochester, NY",
          "Hartford, CT", "Madison, WI", "Sacramento, CA", "Charleston, SC", "Springfield, MO", "Calgary, AB",
          "Hamilton, ON", "Winnipeg, MB", "Halifax, NS", "Kelowna, BC"]
BENEFITS = ["medical, dental and vision", "a 401(k) with company match", "paid time off and paid holidays",
            "a company truck and fuel card", "tool allowance", "paid apprenticeship schooling",
            "overtime after 40 hours", "a union pension and annuity", "boot and uniform allowance",
            "quarterly safety bonuses", "per diem on out-of-town jobs", "tuition reimbursement"]
SCHEDULES = ["Monday-Friday, 7:00-3:30", "4x10s", "Day shift with occasional Saturdays", "2nd shift, 3 pm-11:30 pm",
             "Full-time with on-call rotation", "Seasonal, March through November", "Full-time, year-round work"]


def _ok(text: str, banned: list[str]) -> bool:
    low = text.lower()
    return not any(word in low for word in banned)


class Posting:
    """The parts of one job posting for one trade, drawn from an RNG; `render` writes it in one of six styles."""

    def __init__(self, rng: random.Random, label: str):
        self.rng, self.label, t = rng, label, TRADES[label]
        self.veiled = rng.random() < VEILED_FRACTION
        self.hard = rng.random() < HARD_FRACTION
        self.banned = t["leak"] if self.veiled else []
        self.level, share, self.experience = rng.choice(LEVELS)
        self.title = self.pick(t["veiled_titles"] if self.veiled or rng.random() < 0.25 else t["titles"])
        self.employer = self.make_employer(t)
        self.city = rng.choice(CITIES)
        self.setting = self.pick(t["settings"])
        self.duties = self.pick_some(t["duties"], 2, 4)
        self.tools = self.pick_some(t["tools"], 1, 3)
        self.certs = self.pick_some(t["certs"], 0, 2)
        self.program = self.pick(t["program"])
        self.pay = self.make_pay(t["pay"], share)
        self.benefits = rng.sample(BENEFITS, rng.randint(1, 3))
        self.schedule = rng.choice(SCHEDULES)
        self.crew_note = ""
        if self.hard:
            self.add_hard_parts()

    def pick(self, pool: list[str]) -> str:
        allowed = [x for x in pool if _ok(x, self.banned)]
        return self.rng.choice(allowed or pool)

    def pick_some(self, pool: list[str], low: int, high: int) -> list[str]:
        allowed = [x for x in pool if _ok(x, self.banned)]
        return self.rng.sample(allowed, min(len(allowed), self.rng.randint(low, high)))

    def make_employer(self, t: dict) -> str:
        rng = self.rng
        name = rng.choice(SURNAMES) if rng.random() < 0.6 else rng.choice(PLACE_WORDS)
        if rng.random() < 0.55:
            suffix = self.pick(t["employer_suffix"])
            if _ok(suffix, self.banned):
                return f"{name} {suffix}"
        return f"{name} {rng.choice(GENERIC_SUFFIXES)}"

    def make_pay(self, pay_range: list[int], share: float) -> str:
        rng, (lo, hi) = self.rng, pay_range
        mid = lo + share * (hi - lo) + rng.uniform(-2, 2)
        low, high = max(14.0, mid - rng.uniform(1, 4)), mid + rng.uniform(1, 5)
        style = rng.random()
        if style < 0.45:
            return f"${low:.0f}-${high:.0f} per hour"
        if style < 0.65:
            return f"${mid:.2f}/hr"
        if style < 0.8:
            return f"${round(low * 2080, -3):,.0f}-${round(high * 2080, -3):,.0f} a year"
        if style < 0.9 and "apprentice" in self.level:
            return f"{int(35 + share * 80)}% of journeyman scale, with raises every 1,000 hours"
        return rng.choice(["DOE", "competitive, based on experience", "union scale plus benefits"])

    def add_hard_parts(self) -> None:
        rng = self.rng
        shared = [s for s in VOCAB["shared"] if self.label in s["trades"]]
        if shared:
            group = rng.choice(shared)
            self.duties[rng.randrange(len(self.duties))] = rng.choice(group["duties"])
            others = [x for x in group["trades"] if x != self.label]
        else:
            others = []
        others += rng.sample([x for x in LABELS if x != self.label and x not in others], 1)
        names = [PLURALS[x] for x in others]
        self.crew_note = rng.choice([
            "You will work alongside {} on the same jobs.", "Coordinate daily with {} and the GC.",
            "Our {} handle their scopes; you handle yours.", "Experience working near {} is a plus.",
        ]).format(" and ".join(names))
        if len(self.duties) > 2:
            self.duties.pop(rng.randrange(len(self.duties)))

    def title_with_level(self) -> str:
        """The title, often with the level in it ("Third-Year Apprentice Framer", "Lead Roofer", "Welder Helper")."""
        level_words = ("apprentice", "journeyman", "helper", "lead", "master", "foreman", "trainee", "tender")
        if any(w in self.title.lower() for w in level_words) or self.rng.random() < 0.4:
            return self.title
        if self.level in ("helper", "foreman"):
            return f"{self.title} {self.level.capitalize()}"
        return f"{self.level.title()} {self.title}"

    def render(self) -> str:
        styles: list[Callable[[Posting], str]] = [full_posting, bulleted, program_notice, classified, recruiter,
                                                  job_board]
        text = self.rng.choice(styles)(self)
        return "\n".join(" ".join(line.split()) for line in text.split("\n")).strip()


def _sentence(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def full_posting(p: Posting) -> str:
    rng = p.rng
    intro = rng.choice(["{e} is hiring a {t} in {c} (current work: {s}).", "Join {e} as a {t} in the {c} area.",
                        "{e} ({c}) has an opening for a {t}. Most of our work: {s}."])
    parts = [intro.format(e=p.employer, t=p.title_with_level(), s=p.setting, c=p.city),
             f"You will {_sentence(p.duties)}.", p.crew_note,
             f"You should be comfortable with {_sentence(p.tools)}." if rng.random() < 0.6 else "",
             f"{p.experience}." + (f" Preferred: {_sentence(p.certs)}." if p.certs else ""),
             f"Pay: {p.pay}. We offer {_sentence(p.benefits)}."]
    return " ".join(x for x in parts if x)


def bulleted(p: Posting) -> str:
    lines = [f"{p.title_with_level()} - {p.employer}", f"Location: {p.city}", "What you'll do:"]
    lines += [f"- {_cap(d)}" for d in p.duties]
    if p.crew_note:
        lines.append(f"- {p.crew_note}")
    lines.append("What you need:")
    lines += [f"- {_cap(x)}" for x in [p.experience] + p.certs]
    lines.append(f"Pay: {p.pay} | {p.schedule}")
    return "\n".join(lines)


def program_notice(p: Posting) -> str:
    rng = p.rng
    hours = rng.choice([144, 160, 180, 200, 240])
    start = p.make_pay(TRADES[p.label]["pay"], rng.choice([0.05, 0.12]))  # programs advertise the starting rate
    opener = rng.choice(["Applications are open for {g} in {c}.", "{G} is recruiting its next class in {c}.",
                         "Now accepting applicants: {g} ({c} area)."])
    return (f"{opener.format(g=p.program, G=_cap(p.program), c=p.city)} Apprentices are placed with contractors "
            f"such as {p.employer} and learn to {_sentence(p.duties)}, with {hours} classroom hours a year. "
            f"Starting pay {start}. {p.crew_note} "
            f"Applicants must be 18, have a high school diploma or GED and pass a drug screen.")


def classified(p: Posting) -> str:
    rng = p.rng
    head = rng.choice(["HIRING: {t}.", "{t} wanted!", "Now hiring {t} - {c}."]).format(t=p.title_with_level(), c=p.city)
    cert = f" {_cap(p.certs[0])} a plus." if p.certs else ""
    return (f"{head} {_cap(p.duties[0])}{', ' + p.duties[1] if len(p.duties) > 1 else ''}.{cert} "
            f"{_cap(p.pay)}. {p.crew_note} Apply at {p.employer}.")


def recruiter(p: Posting) -> str:
    rng = p.rng
    kind = rng.choice(["a growing contractor", "a family-owned company", "an established employer",
                       "a fast-growing outfit"])
    who = p.title_with_level() if rng.random() < 0.5 else p.level
    return (f"Hi! I'm recruiting for {kind} in {p.city} that needs a {who} to {p.duties[0]}"
            f"{' and ' + p.duties[1] if len(p.duties) > 1 else ''}. Most of the work: {p.setting}. "
            f"Pay is {p.pay}, plus {_sentence(p.benefits)}. {p.crew_note} "
            f"{'Having ' + p.certs[0] + ' helps. ' if p.certs else ''}Interested? Reply with your resume.")


def job_board(p: Posting) -> str:
    fields = [f"Job title: {p.title_with_level()}", f"Company: {p.employer}", f"Location: {p.city}",
              f"Job type: Full-time | {p.schedule}", f"Salary: {p.pay}",
              f"Responsibilities: {'; '.join(p.duties)}." + (f" {p.crew_note}" if p.crew_note else ""),
              f"Qualifications: {p.experience}" + (f"; {'; '.join(p.certs)}" if p.certs else "") + ".",
              f"Tools: {', '.join(p.tools)}."]
    return "\n".join(fields)


def generate(n: int, rng: random.Random, seen: set[str]) -> list[dict]:
    """`n` labelled postings, near-balanced (n // 10 per label, the remainder spread at random), none in `seen`."""
    labels = [lab for lab in LABELS for _ in range(n // len(LABELS))]
    labels += rng.sample(LABELS, n % len(LABELS))
    rng.shuffle(labels)
    rows = []
    for label in labels:
        for _ in range(100):
            text = Posting(rng, label).render()
            if text not in seen:
                break
        seen.add(text)
        rows.append({"text": text, "label": label})
    return rows


def generate_splits(n_train: int, n_eval: int, seed: int) -> tuple[list[dict], list[dict]]:
    """Train and eval rows for `seed`; each split has its own RNG stream, and eval shares no text with train."""
    seen: set[str] = set()
    train = generate(n_train, random.Random(f"trade-classifier/{seed}/train"), seen)
    held_out = generate(n_eval, random.Random(f"trade-classifier/{seed}/eval"), seen)
    return train, held_out


def write(out: Path, train: list[dict], held_out: list[dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train.jsonl", train), ("eval.jsonl", held_out)):
        with (out / name).open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    (out / "labels.txt").write_text("".join(lab + "\n" for lab in LABELS), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=HERE / "data", help="output directory (default: ./data)")
    ap.add_argument("--train", type=int, default=600, help="training rows (default 600)")
    ap.add_argument("--eval", type=int, default=120, help="evaluation rows (default 120)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = ap.parse_args(argv)
    if args.train < 0 or args.eval < 0:
        ap.error("--train and --eval must be >= 0")
    train, held_out = generate_splits(args.train, args.eval, args.seed)
    write(args.out, train, held_out)
    print(f"wrote {len(train)} train and {len(held_out)} eval rows, {len(LABELS)} labels to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
