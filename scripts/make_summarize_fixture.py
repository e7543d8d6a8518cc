#!/usr/bin/env python3
"""Writes the hand-made summarize-from-feedback fixture in both real formats.

  comparisons.jsonl : OpenAI's original layout (one JSON object per line; reddit `info` has
                      id/post/title/subreddit, CNN/DM `info` has id/article/title/site)
  comparisons.parquet: the HF `openai/summarize_from_feedback` (config `comparisons`) layout, written by
                      pyarrow with one nested schema where absent info fields are null

All text is made up. Re-run from the repository root after editing:
    python3 scripts/make_summarize_fixture.py   (needs pyarrow)
"""
import json
import pathlib

import pyarrow as pa
import pyarrow.parquet as pq

OUT = pathlib.Path("crates/activepref-data/tests/fixtures/summarize")

REDDIT = [
    # (split, batch, post id, subreddit, title, post, [(summary a, summary b, choice), ...])
    ("train", "batch3", "t3_aa01", "relationships", "Roommate eats my food",
     "My roommate keeps eating the leftovers I label. I asked twice and it still happens every week.",
     [("Roommate eats labelled food despite two requests.", "I have a roommate.", 0),
      ("Food stolen by roommate weekly.", "Roommate eats my labelled leftovers even after I asked twice.", 1),
      ("Leftovers vanish.", "Roommate ignores my requests about food.", 1)]),
    ("train", "batch3", "t3_aa02", "personalfinance", "Should I pay off my car early?",
     "I have 4000 left on a car loan at 3 percent and 10000 in savings. Is paying it off smart?",
     [("Pay off 4k car loan at 3% with 10k savings?", "Car question.", 0),
      ("Small low-interest loan, decent savings: pay early or not?", "Should I buy a car?", 0)]),
    ("train", "batch5", "t3_aa03", "cooking", "Bread never rises",
     "Every loaf I bake stays flat. I use fresh yeast and warm water but the dough never doubles.",
     [("Flat bread despite fresh yeast and warm water.", "I like bread.", 0),
      ("Dough never doubles; what am I doing wrong?", "Yeast is fresh.", 0),
      ("Baking fails.", "My loaves stay flat every time even with fresh yeast.", 1)]),
    ("train", "batch5", "t3_aa04", "running", "Knee pain after long runs",
     "After any run longer than ten kilometres my left knee aches for two days.",
     [("Left knee aches for days after runs over 10 km.", "Running is hard.", 0),
      ("Knee.", "Long runs cause two days of knee pain.", 1)]),
    ("train", "batch6", "t3_aa05", "tifu", "TIFU by replying all",
     "I meant to send a joke to one colleague and sent it to the whole company instead.",
     [("Sent a joke to the whole company by mistake.", "Email problem.", 0),
      ("Reply-all disaster with a joke.", "I told a joke.", 0)]),
    ("train", "batch6", "t3_aa06", "gardening", "Tomatoes split open",
     "My tomatoes crack right before they ripen. I water them every evening.",
     [("Tomatoes crack before ripening despite daily watering.", "Tomatoes.", 0),
      ("Why do my tomatoes split?", "Evening watering and cracking tomatoes.", 1)]),
    ("valid1", "batch8", "t3_bb01", "legaladvice", "Landlord kept deposit",
     "My landlord kept my whole deposit for normal wear and tear after three years.",
     [("Landlord kept full deposit for normal wear after 3 years.", "Deposit.", 0),
      ("Is keeping a deposit for wear legal?", "I moved out.", 0)]),
    ("valid1", "batch8", "t3_bb02", "cats", "Cat ignores new food",
     "I switched my cat to a new brand and she has not eaten it for a day.",
     [("Cat refuses new food brand for a day.", "Cats are picky.", 0),
      ("New food.", "My cat will not eat the new brand.", 1)]),
    ("valid1", "batch9", "t3_bb03", "books", "Finishing long novels",
     "I start long novels with enthusiasm and stop around page two hundred every time.",
     [("I always quit long novels near page 200.", "Books.", 0),
      ("Lose interest mid-novel.", "I read.", 0)]),
    ("valid2", "batch10", "t3_cc01", "fitness", "Plateau on bench press",
     "My bench press has not moved in three months even though I train three times a week.",
     [("Bench stuck for 3 months despite training 3x/week.", "Gym.", 0),
      ("Stalled bench press.", "I lift weights.", 0)]),
    ("valid2", "batch10", "t3_cc02", "travel", "Lost passport abroad",
     "I lost my passport two days before my flight home and the embassy is closed on weekends.",
     [("Lost passport before flight; embassy closed weekends.", "Travel issue.", 0),
      ("Passport gone.", "Lost passport abroad two days before flying home.", 1)]),
]

CNNDM = [
    ("valid2", "batch0_cnndm", "cnn_001", "cnn", "Town opens library",
     "A small town opened its first public library on Saturday after a decade of fundraising by residents.",
     [("Town opens first library after ten years of fundraising.", "A library.", 0),
      ("Residents celebrate.", "New public library opens in small town.", 1)]),
    ("valid2", "cnndm0", "dm_002", "dailymail", "Storm closes schools",
     "Schools across the region were closed on Monday as a storm brought heavy snow and strong winds.",
     [("Storm with snow and wind shuts regional schools.", "Weather.", 0),
      ("Schools closed.", "Heavy snow closes schools on Monday.", 1)]),
    ("valid2", "cnndm2", "cnn_003", "cnn", "Museum returns artefact",
     "A museum returned a carved mask to the community it was taken from a century ago.",
     [("Museum returns century-old mask to its community.", "Museum news.", 0),
      ("A mask.", "Carved mask goes home after 100 years.", 1)]),
]


def records():
    n = 0
    for split, batch, pid, sub, title, post, comps in REDDIT:
        for a, b, choice in comps:
            n += 1
            yield {
                "info": {"id": pid, "post": post, "title": title, "subreddit": sub},
                "summaries": [
                    {"text": a, "policy": "sup4_t0.7", "note": None},
                    {"text": b, "policy": "ref", "note": "made-up note" if n % 3 == 0 else None},
                ],
                "choice": choice,
                "worker": f"w{n % 4}",
                "batch": batch,
                "split": split,
                "extra": {"confidence": (n % 9) + 1 if n % 5 else None},
            }
    for split, batch, aid, site, title, article, comps in CNNDM:
        for a, b, choice in comps:
            n += 1
            yield {
                "info": {"id": aid, "title": title, "article": article, "site": site},
                "summaries": [
                    {"text": a, "policy": "pretrain_t0.7", "note": None},
                    {"text": b, "policy": "ref", "note": None},
                ],
                "choice": choice,
                "worker": f"w{n % 4}",
                "batch": batch,
                "split": split,
                "extra": {"confidence": None},
            }


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    recs = list(records())
    with open(OUT / "comparisons.jsonl", "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")
    info_fields = ["id", "post", "title", "subreddit", "article", "site"]
    schema = pa.schema([
        ("info", pa.struct([(k, pa.string()) for k in info_fields])),
        ("summaries", pa.list_(pa.struct([("text", pa.string()), ("policy", pa.string()), ("note", pa.string())]))),
        ("choice", pa.int32()),
        ("worker", pa.string()),
        ("batch", pa.string()),
        ("split", pa.string()),
        ("extra", pa.struct([("confidence", pa.int32())])),
    ])
    rows = [dict(r, info={k: r["info"].get(k) for k in info_fields}) for r in recs]
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), OUT / "comparisons.parquet")
    print(f"wrote {len(recs)} records to {OUT}")


if __name__ == "__main__":
    main()
