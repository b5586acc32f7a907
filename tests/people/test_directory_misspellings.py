"""The directory forgives misspelt names and words, on SQLite as on PostgreSQL, and still
respects privacy; SQLite's trigram index follows every write (migration 0026)."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, update
from strawberry.relay import from_base64

from alumnet.persistence.models import Skill, User, UserSkill
from alumnet.persistence.trigrams import similarity, word_similarity
from tests.people.conftest import Programme, profile
from tests.people.test_directory import names


@pytest.fixture
async def misspelt(people: Programme) -> Programme:
    p = people
    for key, name, fields in [
        ("amara", "Amara Iyer", {"headline": "Analytical engines", "jobTitle": "Software Engineer",
                                 "company": "Babbage Ltd", "skills": [{"name": "Python"}]}),
        ("kofi", "Kofi Mensah", {"headline": "Accountant", "company": "Volta Bank",
                                 "skills": [{"name": "Finance"}],
                                 "privacy": {"work": "ONLY_ME"}}),
    ]:  # fmt: skip
        p.ids[key], p.tokens[key] = await p.api.create_user(
            f"{key}@example.org", ["ALUMNUS"], name=name
        )
        await profile(p, key, **fields)
    return p


async def test_misspelt_names_and_words_are_found(misspelt: Programme) -> None:
    p = misspelt
    assert await names(p, "s1", "Amra Iyer") == ["Amara Iyer"]  # the name, misspelt
    assert await names(p, "s1", "Amara Iyer") == ["Amara Iyer"]
    assert await names(p, "s1", "enginer") == ["Amara Iyer"]  # the job title
    assert await names(p, "s1", "pyton") == ["Amara Iyer"]  # a skill
    assert await names(p, "s1", "amara pyton") == ["Amara Iyer"]  # one right, one not
    assert await names(p, "s1", "analitical") == ["Amara Iyer"]  # the headline
    assert await names(p, "s1", "acountant") == ["Kofi Mensah"]
    assert await names(p, "s1", "Kofi Mensha") == ["Kofi Mensah"]
    assert await names(p, "s1", "pyton cobol") == []  # every word must be found
    assert await names(p, "s1", "xyzzy") == []


async def test_misspelt_words_respect_privacy(misspelt: Programme) -> None:
    p = misspelt
    assert await names(p, "s1", "finanse") == []  # Kofi's work is only his
    assert await names(p, "kofi", "finanse") == ["Kofi Mensah"]
    assert await names(p, "admin", "voltta") == ["Kofi Mensah"]
    assert await names(p, "s1", "vlota") == []  # letters swapped share too few trigrams


async def test_the_index_follows_every_write(misspelt: Programme) -> None:
    p = misspelt
    await profile(p, "amara", jobTitle="Architect", skills=[{"name": "Kubernetes"}])
    assert await names(p, "s1", "pyton") == []
    assert await names(p, "s1", "archtect kubernets") == ["Amara Iyer"]
    amara = int(from_base64(p.ids["amara"])[1])
    async with p.api.app.state.runtime.transaction() as uow:  # bulk, as imports and seeds do
        await uow.session.execute(update(User).where(User.id == amara).values(name="Amaka Obi"))
        skill = (
            await uow.session.execute(
                insert(Skill).values(name="Haskell", name_key="haskell").returning(Skill.id)
            )
        ).scalar_one()
        await uow.session.execute(
            insert(UserSkill).values(user_id=amara, skill_id=skill, proficiency="advanced")
        )
    assert await names(p, "s1", "Amaka Obi") == ["Amaka Obi"]
    assert await names(p, "s1", "Amra Iyer") == []
    assert await names(p, "s1", "haskel") == ["Amaka Obi"]


def test_measures_are_pg_trgm_s() -> None:
    # Figures from PostgreSQL 15's pg_trgm.
    assert similarity("pyton", "python") == pytest.approx(0.4444444)
    assert similarity("amra iyer", "amara iyer") == pytest.approx(0.6153846)
    assert word_similarity("pyton", "python sql") == pytest.approx(0.5)
    assert word_similarity("enginer", "software engineer") == pytest.approx(0.75)
    assert word_similarity("cobl", "Grace Hopper Compilers Navy COBOL") == pytest.approx(0.6)
    assert word_similarity("word", "two words") == pytest.approx(0.8)


PAGED = """query($q: String!, $first: Int, $after: String) {
  directory(query: $q, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { name } } } }"""


async def test_misspellings_are_forgiven_only_when_nothing_matches_as_written(
    misspelt: Programme,
) -> None:
    p = misspelt
    p.ids["ola"], p.tokens["ola"] = await p.api.create_user(
        "ola@example.org", ["ALUMNUS"], name="Ola Adeyemi"
    )
    await profile(p, "ola", jobTitle="Civil Engineer")
    # Nobody is "enginer" as written: both engineers, paged on with the forgiving list's
    # own cursors.
    first = await p.gql("s1", PAGED, {"q": "enginer", "first": 1})
    page = first["data"]["directory"]
    assert page["totalCount"] == 2 and page["pageInfo"]["hasNextPage"] is True
    after = page["pageInfo"]["endCursor"]
    second = await p.gql("s1", PAGED, {"q": "enginer", "first": 1, "after": after})
    rest = second["data"]["directory"]
    assert rest["totalCount"] == 2 and rest["pageInfo"]["hasNextPage"] is False
    found = {page["edges"][0]["node"]["name"], rest["edges"][0]["node"]["name"]}
    assert found == {"Amara Iyer", "Ola Adeyemi"}
    none = await p.gql("s1", PAGED, {"q": "enginer", "first": 0})
    assert none["data"]["directory"]["totalCount"] == 2
    # Once someone is "enginer" as written, that is what the search finds.
    await profile(p, "ola", headline="Enginer of bridges")
    assert await names(p, "s1", "enginer") == ["Ola Adeyemi"]
