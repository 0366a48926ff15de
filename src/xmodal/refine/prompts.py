"""Every prompt the refiner sends, in one place. Override per call with `LLMRefiner(prompts={...})`.

Placeholders: {question}, {item} (one item's evidence line), {items} (numbered lines "[n] …").
"""

from __future__ import annotations

PROMPTS: dict[str, str] = {
    "system": (
        "You help a user find things in their collection of images, sounds, videos, documents and texts. "
        "Each retrieved item is described only by what was extracted from its content "
        "(objects seen, text in the image, speech, sounds, page text)."
    ),
    # pointwise mode: one short yes/no prompt per item (the question part is a cached prefix)
    "judge": "Question: {question}\nRetrieved item: {item}\nIs this item relevant to the question? Answer yes or no.",
    # answer over the kept items only
    "answer": (
        "Question: {question}\nRelevant items:\n{items}\n"
        "Answer the question in one or two sentences using only these items. "
        "Cite the items you use by their number in square brackets, like [1]."
    ),
    # one-call mode: judge all items and answer, as JSON
    "judge_all": (
        "Question: {question}\nRetrieved items:\n{items}\n"
        "For every item decide whether it is relevant to the question (keep true or false) with a short reason, "
        "listing kept items first, best first. Then answer the question in one or two sentences citing kept items "
        "by number like [1]. Reply as JSON: "
        '{{"items": [{{"n": 1, "keep": true, "reason": "..."}}], "answer": "..."}}'
    ),
}
