"""The alumnet command, as an operator uses it."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

from alumnet.config import Settings
from tests import commands
from tests.conftest import Api, _serve, env_for, post_to


def alumnet(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the command as an operator would, with the test setup's environment (plus
    ``env``): a process of its own, forked from one that has imported alumnet already
    (tests/commands.py): ~2 s of start-up less than `python -m alumnet.cli`, which the
    tests of `serve` below still run."""
    return commands.complete(list(args), {**env_for(settings), **env})


def test_help_guides_a_newcomer(settings: Settings) -> None:
    result = alumnet(settings, "--help")
    assert result.returncode == 0
    for command in ("serve", "worker", "migrate", "seed", "export-schema", "user", "token"):
        assert command in result.stdout
    # Plain flags and values, as most command-line tools print them.
    for command in (["serve"], ["import"], ["worker"], ["operations", "register"]):
        shown = alumnet(settings, *command, "--help").stdout
        assert "<bool>" not in shown and "<str>" not in shown and "<list" not in shown, shown
    assert "--dry-run  " in alumnet(settings, "import", "--help").stdout
    assert "--port INTEGER" in alumnet(settings, "serve", "--help").stdout


async def test_migrate_current_seed_and_create_admin(api: Api) -> None:
    settings = api.settings
    current = alumnet(settings, "migrate", "current")
    assert current.returncode == 0
    lines = current.stdout.splitlines()
    assert lines[0].split()[-1] == lines[1].split()[-1]

    first = alumnet(settings, "seed", "--demo")
    assert first.returncode == 0, first.stderr
    assert "new users" in first.stdout
    again = alumnet(settings, "seed", "--demo", "--if-empty")
    assert "not loaded" in again.stdout
    # The demo's giving totals add up; one changed behind alumnet's back is found and fixed.
    counted = alumnet(settings, "giving", "recount")
    assert counted.returncode == 0 and "add up" in counted.stdout, counted.stdout
    from sqlalchemy import update

    from alumnet.persistence.models import DonorYear

    async with api.app.state.runtime.transaction() as uow:
        await uow.session.execute(update(DonorYear).values(total_minor=DonorYear.total_minor + 1))
    off = alumnet(settings, "giving", "recount")
    assert off.returncode == 1 and "differ" in off.stdout, off.stdout
    assert alumnet(settings, "giving", "recount", "--fix").returncode == 0
    assert alumnet(settings, "giving", "recount").returncode == 0
    token = await api.sign_in("manager@demo.alumnet.dev", "alumnet-demo")
    listed = await api.gql("{ users { totalCount } }", token=token)
    assert listed["data"]["users"]["totalCount"] > 4000
    # The README's inbox query has something to show.
    student = await api.sign_in("student@demo.alumnet.dev", "alumnet-demo")
    inbox = await api.gql(
        "{ notificationUnreadCount conversations { edges { node { otherParticipant { name } } } }"
        " announcements { edges { node { title pinned } } } tickets { totalCount } }",
        token=student,
    )
    assert inbox["data"]["conversations"]["edges"] == [
        {"node": {"otherParticipant": {"name": "Mo Mentor"}}}
    ]
    assert inbox["data"]["announcements"]["edges"][0]["node"]["pinned"] is True
    assert inbox["data"]["tickets"]["totalCount"] == 1
    assert inbox["data"]["notificationUnreadCount"] >= 3
    capstone = await api.gql(
        "{ batches { edges { node { missions { edges { node { code mentors {"
        " mentor { email } wholeMission } } } } } } } }",
        token=token,
    )
    whole = {(m["node"]["code"], w["mentor"]["email"])
             for b in capstone["data"]["batches"]["edges"]
             for m in b["node"]["missions"]["edges"]
             for w in m["node"]["mentors"] if w["wholeMission"]}  # fmt: skip
    assert whole == {("B2026B-CAP", "mentor40@demo.alumnet.dev"),
                     ("B2026A-ORI", "mentor@demo.alumnet.dev")}  # fmt: skip
    # The orientation is over: student@ has its certificate (issued by a worker, with
    # Redis), and anyone can check it.
    await api.run_jobs()
    mine = await api.gql(
        "{ viewer { enrollments(first: 10) { edges { node { mission { code }"
        " certificate { code studentName } } } } } }",
        token=student,
    )
    [certificate] = [e["node"]["certificate"] for e in mine["data"]["viewer"]["enrollments"]
                     ["edges"] if e["node"]["mission"]["code"] == "B2026A-ORI"]  # fmt: skip
    assert certificate["studentName"] == "Stella Student"
    checked = await api.gql(
        "query($c: String!) { certificateVerify(code: $c) { name mission } }",
        {"c": certificate["code"]},
    )
    assert checked["data"]["certificateVerify"] == {"name": "Stella Student",
                                                   "mission": "Orientation"}  # fmt: skip
    # A careers board worth searching: postings, student@'s applications and referral,
    # recommendations, and a moderation queue for managers.
    board = await api.gql(
        '{ jobPostings(first: 5, query: "engineer") { totalCount } viewer {'
        " jobApplications(first: 5) { totalCount } savedJobPostings(first: 5) { totalCount }"
        " jobRecommendations(first: 5) { why } } }",
        token=student,
    )
    assert board["data"]["jobPostings"]["totalCount"] > 20
    mine = board["data"]["viewer"]
    assert mine["jobApplications"]["totalCount"] >= 3
    assert mine["savedJobPostings"]["totalCount"] == 3
    assert len(mine["jobRecommendations"]) == 5
    queue = await api.gql(
        "{ jobPostingsToReview { totalCount } careersFigures { applications } }", token=token
    )
    assert queue["data"]["jobPostingsToReview"]["totalCount"] == 3
    assert queue["data"]["careersFigures"]["applications"] > 500
    # Events: past ones counted, coming ones to register for, one full with a waitlist.
    events = await api.gql(
        "{ events(first: 20, orderBy: {field: STARTS_AT, direction: DESC}) { edges { node {"
        " title status report { checkedIn noShows feedback { count } }"
        " attendance { waitlisted } } } } }",
        token=token,
    )
    nodes = {e["node"]["title"]: e["node"] for e in events["data"]["events"]["edges"]}
    assert nodes["Class of 2016 ten-year reunion"]["status"] == "COMPLETED"
    past = nodes["Class of 2016 ten-year reunion"]["report"]
    assert past["checkedIn"] > 50 and past["noShows"] > 10 and past["feedback"]["count"] > 10
    assert nodes["Homecoming reunion"]["attendance"]["waitlisted"] > 0
    coming = await api.gql(
        "{ viewer { eventRegistrations(first: 10, upcoming: true) { totalCount edges { node {"
        " checkInCode event { title joinUrl } } } } } }",
        token=student,
    )
    mine = coming["data"]["viewer"]["eventRegistrations"]
    assert mine["totalCount"] == 3
    assert all(e["node"]["checkInCode"] for e in mine["edges"])
    # Mentoring: offers to search and suggestions, requests in every state, student@ with a
    # mentor (alumnus@) and a session booked; the programme's figures for managers.
    mentoring = await api.gql(
        "{ mentors(first: 5) { totalCount } mentorSuggestions(first: 3) { score why }"
        " viewer { mentorships(first: 5) { edges { node { status"
        " sessions { totalCount edges { node { status } } }"
        " goals { status } } } } } }",
        token=student,
    )
    assert mentoring["data"]["mentors"]["totalCount"] > 100
    assert len(mentoring["data"]["mentorSuggestions"]) == 3
    [ship] = mentoring["data"]["viewer"]["mentorships"]["edges"]
    assert ship["node"]["status"] == "ACTIVE" and ship["node"]["sessions"]["totalCount"] == 2
    figures = await api.gql(
        "{ mentorshipFigures { requests accepted declined expired withdrawn pending"
        " acceptanceRate } }",
        token=token,
    )
    states = figures["data"]["mentorshipFigures"]
    assert all(states[k] > 0 for k in ("accepted", "declined", "expired", "withdrawn",
                                       "pending"))  # fmt: skip

    created = alumnet(
        settings,
        "user",
        "create-admin",
        "--email",
        "ops@example.org",
        "--name",
        "Ops",
        "--password",
        "a long admin passphrase",
    )
    assert created.returncode == 0, created.stderr
    admin = await api.sign_in("ops@example.org", "a long admin passphrase")
    viewer = await api.gql("{ viewer { roles } }", token=admin)
    assert viewer["data"]["viewer"]["roles"] == ["ADMIN"]
    weak = alumnet(
        settings, "user", "create-admin", "--email", "x@example.org", "--password", "short"
    )
    assert weak.returncode == 1 and "PASSWORD_TOO_SHORT" in weak.stderr


def test_export_schema_writes_sdl(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "schema.graphql"
    result = alumnet(settings, "export-schema", "--output", str(out))
    assert result.returncode == 0
    assert "type Query" in out.read_text()


def test_worker_without_redis_explains_itself(settings: Settings) -> None:
    if settings.redis_url:
        return
    result = alumnet(settings, "worker", "--burst")
    assert result.returncode == 2
    assert "ALUMNET_REDIS_URL is not set" in result.stderr


def test_serve_on_a_taken_port_says_which_setting_to_change(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "alumnet.cli", "serve", "--port", str(port)],
            env=env_for(settings), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"port {port} on 127.0.0.1 is in use" in done.stderr
    assert "--port" in done.stderr and "PORT=" in done.stderr
    assert "Traceback" not in done.stderr


async def test_serve_links_lead_to_the_address_it_listens_on(api: Api) -> None:
    """Without ALUMNET_PUBLIC_URL, e-mailed links name the port `alumnet serve` took: the
    suite's one server started as `python -m alumnet.cli serve` (the others are forked)."""
    await api.create_user("ada@example.org", ["STUDENT"])
    process, server = _serve(api, subprocess.DEVNULL, fresh=True)
    try:
        await post_to(server, 'mutation { passwordResetRequest(input: {email: "ada@example.org"}) '
                      "{ accepted } }")  # fmt: skip
        await api.run_jobs()  # on Redis: a worker sends it (the server's own queue, without)
        link = f"http://{server}/reset-password?token="
        for _ in range(200):  # the server's queue sends it within moments
            if any(link in m for m in api.mailbox.to("ada@example.org")):
                break
            await asyncio.sleep(0.05)
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert any(link in m for m in api.mailbox.to("ada@example.org")), api.mailbox.messages


def test_counts_read_as_people_write_them() -> None:
    from alumnet.cli import _count

    assert [_count(n, "row") for n in (0, 1, 2, 12_345)] == [
        "0 rows", "1 row", "2 rows", "12,345 rows"
    ]  # fmt: skip
