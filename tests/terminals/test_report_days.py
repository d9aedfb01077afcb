"""The reports' figures per site and day (site_day_figures): a month's cards add up days kept
from earlier reports, and a day is made again from its records as soon as a record that can bear
on it arrives (its own day or either neighbour: intervals cross midnight), so the figures kept
always equal those made from all the records at once."""

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from core.jobs import run_due_recurring
from terminals.reports.evidence import site_month
from terminals.reports.models import SiteDayFigures
from terminals.sites.models import Site, SiteStatus
from tests.terminals.reports_data import group_session, local, make_world, played

TENTH = date(2026, 10, 10)


def test_a_day_is_read_from_its_figures_until_a_record_arrives_for_it(session: Session) -> None:
    world = make_world(session)
    site = world.site
    played(session, site, local(TENTH, 9), 180)
    group_session(session, site, local(TENTH, 14))
    session.commit()
    month = site_month(session, site, 2026, 10)
    assert month.minutes_by_day == {TENTH: 180.0} and month.group_sessions == 1
    session.commit()
    kept = session.scalars(select(SiteDayFigures).where(SiteDayFigures.day == TENTH)).one()
    assert kept.minutes == 180.0 and len(kept.sessions) == 1

    # Kept figures are what the next report reads, not the records (so it need not read them).
    session.execute(update(SiteDayFigures).where(SiteDayFigures.day == TENTH).values(minutes=1.0))
    session.commit()
    assert site_month(session, site, 2026, 10).minutes_by_day == {TENTH: 1.0}

    # A late record for the 9th ending after midnight bears on the 10th: made again, in full.
    played(session, site, local(TENTH - timedelta(days=1), 23, 30), 60)
    session.commit()
    month = site_month(session, site, 2026, 10)
    assert month.minutes_by_day == {TENTH - timedelta(days=1): 30.0, TENTH: 210.0}
    assert month.open_days == {TENTH - timedelta(days=1), TENTH}


def test_figures_kept_as_records_arrive_equal_those_made_at_once(session: Session) -> None:
    """Twelve sites, each with its own random plays over five days (some across midnight), a
    report after each arrival: what they keep equals what the records give at once."""
    world = make_world(session)
    chance = random.Random(20261129)
    for n in range(12):
        site = Site(code=f"5001990{n:05d}", name=f"站点{n}", org_id=world.site.org_id,
                    tier="basic", status=SiteStatus.active)  # fmt: skip
        session.add(site)
        session.commit()
        for _ in range(chance.randint(1, 8)):  # a report after each arrival keeps what it made
            start = local(TENTH + timedelta(days=chance.randint(0, 4)), chance.randint(0, 23),
                          chance.randint(0, 59))  # fmt: skip
            played(session, site, start, chance.randint(1, 300))
            session.commit()
            site_month(session, site, 2026, 10)
            session.commit()
        kept = site_month(session, site, 2026, 10)
        session.execute(delete(SiteDayFigures).where(SiteDayFigures.site_id == site.id))
        session.commit()
        assert kept == site_month(session, site, 2026, 10)
        assert kept.minutes_by_day  # something was played


def test_the_recurring_task_makes_the_running_months_figures(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    import terminals.reports.tasks as tasks

    world = make_world(session)
    played(session, world.site, local(TENTH, 9), 45)
    session.commit()
    moment = datetime(2026, 10, 12, 2, 0, tzinfo=UTC)  # 10:00 on 12 October in China
    monkeypatch.setattr(tasks, "utcnow", lambda: moment)
    assert "reports.day_figures" in run_due_recurring(now=moment)
    session.expire_all()
    (kept,) = session.scalars(select(SiteDayFigures).where(SiteDayFigures.minutes > 0))
    assert (kept.site_id, kept.day, kept.minutes) == (world.site.id, TENTH, 45.0)
