"""`GET /lots/{id}/candidates` on both backends gives exactly the pure ranking of the same files: what the database
pre-selects (erased people, people placed full time on the day, closed windows, future checks, full or inactive
structures) and the yes/no questions it answers on JSON lists never change a score, a reason or the order."""

from __future__ import annotations

import dataclasses
import datetime as dt

from harness import running
from matching_support import TODAY, in_use, store, world

from services.matching.app import create_app
from services.matching.domain.eligibility import EligibilityPolicy
from services.matching.domain.ranking import Weights, rank_beneficiaries, rank_structures


def as_pairs(body: dict) -> tuple[list, list]:
    return ([(s["id"], s["score"], s["reasons"], s["free_places"]) for s in body["structures"]],
            [(b["id"], b["score"], b["reasons"], b["status"]) for b in body["beneficiaries"]])


async def test_candidates_are_the_pure_ranking_of_the_stored_files(database_url) -> None:
    w = world(400, 60, seed=3)
    async with running(create_app, database_url=database_url("matching"), nats_url="nats://127.0.0.1:1") as client:
        async with client.ctx.db.session() as session, session.begin():
            await store(session, w)
        path = f"/lots/{w.lot.lot_id}/candidates"
        asks = [({}, TODAY), ({"on": str(TODAY + dt.timedelta(days=10))}, TODAY + dt.timedelta(days=10)),
                ({"modality": "provision", "qpv_priority": "false"}, TODAY)]
        for params, on in asks:
            response = await client.get(path, params={"limit": 10_000, **params})
            assert response.status_code == 200, response.text
            body = response.json()
            weights = dataclasses.replace(Weights(), qpv_priority=params.get("qpv_priority") != "false")
            structures = rank_structures(w.lot, in_use(w, on).structures, w.territory, weights, params.get("modality"))
            people = rank_beneficiaries(w.lot, w.people, w.territory, EligibilityPolicy(), weights, on,
                                        params.get("modality"))
            assert len(people) > 50 and len(structures) > 5  # the world exercises the ranking, not an empty list
            assert as_pairs(body) == (
                [(str(c.id), c.score, c.reasons, c.extra["free_places"]) for c in structures],
                [(str(c.id), c.score, c.reasons, c.status.value) for c in people],
            ), params
            assert (body["structures_total"], body["beneficiaries_total"]) == (len(structures), len(people))

        short = (await client.get(path, params={"limit": 5})).json()
        full = (await client.get(path, params={"limit": 10_000})).json()
        assert as_pairs(short) == tuple(pairs[:5] for pairs in as_pairs(full))
        assert (short["structures_total"], short["beneficiaries_total"]) == (
            full["structures_total"], full["beneficiaries_total"])
        default = (await client.get(path)).json()
        assert len(default["beneficiaries"]) == 50 and default["beneficiaries_total"] == full["beneficiaries_total"]
        assert (await client.get(path, params={"limit": 0})).status_code == 422
