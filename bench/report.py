"""Report benchmark on PostgreSQL: 100,000 members, 5,000 sites and 10,000,000 playback records
(agent interval records, as the sync stores them), built with generate_series; then the reports
are timed against a baseline measured in the same run.

Timed, each the median of `--repeat` runs after one warm-up:
- baseline: one indexed SQL pass counting a month's playback records per site (the least any
  report over raw records must read);
- close: the monthly task storing October's 5,000 cards (once; not a page);
- month_report: the org-wide report of a closed month (what /admin/reports shows);
- ranking: the rankings of a closed month (sites and townships, with members' credits);
- site_card: one site's card for the running month, judged live from its records;
- live_month_report: the org-wide report of the running month, judged live from the sites' day
  figures (site_day_figures), as pages find them once the ten-minute task has made them; its
  first run, which makes every day's figures from the records, is printed as
  live_month_report_cold;
- live_month_report_after_uploads: the same after one site in ten stored records of the last
  day since the figures were made (each such site's last days are made again from records);
  live_month_report_after_a_day is the same after every site did (what the ten-minute task
  meets after a day without it: printed, not a page's target).

Prints `name seconds` lines, the build time, and `target_met=yes|no` for the ≤ 2 s target of the
reports. Run with `.venv/bin/python bench/report.py` (`--records N` to build fewer; `--postgres
URL` for another server).
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench.harness
from bench.harness import scratch_home  # noqa: E402

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BENCH_DATABASE = "yuanjiao_bench_report"
TOWNSHIPS = 25
BRANCHES_PER_TOWNSHIP = 20
# Records run from 1 February to the 15th of November 2026 (local); October is the closed
# month reported on, November the running one.
FIRST_DAY = date(2026, 2, 1)
TODAY = date(2026, 11, 15)
TARGET_SECONDS = 2.0
DROP_FOR_LOAD = (
    "ALTER TABLE site_records DROP CONSTRAINT uq_site_records_uuid",
    "ALTER TABLE site_records DROP CONSTRAINT uq_site_records_site_id",
    "ALTER TABLE site_records DROP CONSTRAINT fk_site_records_site_id_sites",
    "DROP INDEX ix_site_records_site_kind_occurred",
)
RESTORE_AFTER_LOAD = (
    "ALTER TABLE site_records ADD CONSTRAINT uq_site_records_uuid UNIQUE (uuid)",
    "ALTER TABLE site_records ADD CONSTRAINT uq_site_records_site_id"
    " UNIQUE (site_id, agent_id, seq)",
    "ALTER TABLE site_records ADD CONSTRAINT fk_site_records_site_id_sites"
    " FOREIGN KEY (site_id) REFERENCES sites (id) ON DELETE CASCADE",
    "CREATE INDEX ix_site_records_site_kind_occurred ON site_records (site_id, kind, occurred_at)",
)


def fresh_postgres(admin_url: str) -> str:
    """A new, empty benchmark database on the server of `admin_url`; its URL."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{BENCH_DATABASE}"')
    admin.dispose()
    return make_url(admin_url).set(database=BENCH_DATABASE).render_as_string(hide_password=False)


def build(members: int, sites: int, records: int) -> dict[str, float]:
    """The org tree, members with credits, sites with heartbeats, and the playback records;
    returns seconds per step."""
    from sqlalchemy import text

    from core.db import session_scope
    from core.migrate import upgrade_database
    from core.people.models import OrgKind, Role, User
    from core.people.service import create_org, grant_role
    from core.security import hash_password

    timings: dict[str, float] = {}
    started = time.perf_counter()
    upgrade_database()
    with session_scope() as session:
        county = create_org(session=session, name="基准县委", kind=OrgKind.district)
        branches = []
        for town in range(TOWNSHIPS):
            township = create_org(
                session=session, name=f"镇{town:02d}", kind=OrgKind.committee, parent_id=county.id
            )
            for number in range(BRANCHES_PER_TOWNSHIP):
                branches.append(
                    create_org(
                        session=session,
                        name=f"镇{town:02d}村{number:02d}支部",
                        kind=OrgKind.branch,
                        parent_id=township.id,
                    ).id
                )
        admin = User(login="bench-root", display_name="bench", password_hash=hash_password("x"))
        session.add(admin)
        session.flush()
        grant_role(session=session, user=admin, role=Role.platform_admin, org_id=county.id)
        session.execute(text("CREATE TEMP TABLE bench_branches (n int, org_id int)"))
        session.execute(
            text("INSERT INTO bench_branches VALUES (:n, :org_id)"),
            [{"n": n, "org_id": org_id} for n, org_id in enumerate(branches)],
        )
        branch_count = len(branches)
        params = {"members": members, "sites": sites, "branches": branch_count}
        step = time.perf_counter()
        session.execute(
            text(
                "INSERT INTO members (org_id, name, id_number_hash, id_number_masked, phone,"
                " duty, active, created_at)"
                " SELECT b.org_id, '党员' || g, md5('m' || g),"
                " '110105********' || lpad((g % 10000)::text, 4, '0'),"
                " '', 'member', true, now()"
                " FROM generate_series(1, :members) g JOIN bench_branches b ON b.n = g % :branches"
            ),
            params,
        )
        session.execute(
            text(
                "INSERT INTO credit_entries (member_id, year, source, source_ref, category, hours,"
                " occurred_at, recorded_at, reason, detail)"
                " SELECT m.id, 2026, 'manual', '', 'online', ((m.id % 7) + 1) * 0.5,"
                " now(), now(), 'bench', '{}' FROM members m, generate_series(1, 2) k"
            )
        )
        timings["build_members"] = time.perf_counter() - step
        step = time.perf_counter()
        session.execute(
            text(
                "INSERT INTO sites (code, name, org_id, tier, status, host_unit, address,"
                " build_mode, equipment, contacts, photos, download_windows, notes, created_at)"
                " SELECT '5' || lpad(g::text, 11, '0'), '站点' || g, b.org_id,"
                " (ARRAY['premium','demonstration','basic'])[1 + g % 3], 'active', '', '',"
                " 'broadband', '[]', '[]', '[]', '[]', '', now()"
                " FROM generate_series(1, :sites) g JOIN bench_branches b ON b.n = g % :branches"
            ),
            params,
        )
        # Heartbeats: every site on about two days in three of October and November.
        session.execute(
            text(
                "INSERT INTO site_heartbeats (site_id, received_at, sent_at, powered_on_at,"
                " agent_version)"
                " SELECT s.id, t, t, t, 'bench'"
                " FROM sites s, generate_series(timestamptz '2026-10-01 00:30+00',"
                " timestamptz '2026-11-14 00:30+00', interval '1 day') t"
                " WHERE (s.id + extract(day from t)::int) % 3 <> 0"
            )
        )
        timings["build_sites"] = time.perf_counter() - step
    step = time.perf_counter()
    days = (TODAY - FIRST_DAY).days
    with session_scope() as session:
        # Loaded as a restore would: without the secondary indexes and the site key, which are
        # built again once the rows are in (the same definitions the migrations made).
        for statement in DROP_FOR_LOAD:
            session.execute(text(statement))
        session.execute(
            text(
                "INSERT INTO site_records (uuid, site_id, agent_id, seq, kind, occurred_at,"
                " received_at, body, digest, clock_offset_seconds, lesson_id, media_start,"
                " media_end, rate, wall_start)"
                " SELECT md5('r' || g)::uuid::text, s.first + (g % :sites), 'agent',"
                " g, 'interval', r.start + r.minutes * interval '1 minute', now(),"
                " json_build_object('session_id', md5('s' || (g / 4))::uuid, 'lesson_id', 1,"
                "  'media_start', 0, 'media_end', r.minutes * 60,"
                "  'started_at', replace((r.start AT TIME ZONE 'Asia/Shanghai')::text, ' ', 'T')"
                "   || '+08:00', 'rate', 1),"
                " '', 0, 1, 0, r.minutes * 60, 1, extract(epoch FROM r.start)"
                " FROM generate_series(1, :records) g"
                " CROSS JOIN (SELECT min(id) AS first FROM sites) s"
                " CROSS JOIN LATERAL (SELECT"
                "  timestamptz '2026-02-01 00:00+08' + ((g / :sites) % :days) * interval '1 day'"
                "  + (8 + g % 11) * interval '1 hour' + (g % 60) * interval '1 minute' AS start,"
                "  20 + g % 71 AS minutes) r"
            ),
            {"records": records, "sites": sites, "days": days},
        )
        timings["build_records_rows"] = time.perf_counter() - step
        for statement in RESTORE_AFTER_LOAD:
            session.execute(text(statement))
        # The local days the records fall on and the days beside them, as storing them notes.
        session.execute(
            text(
                "INSERT INTO site_record_days (site_id, day, revision)"
                " SELECT site_id, CAST(timezone('UTC', occurred_at) + interval '8 hours' AS date)"
                " + near, 1 FROM site_records, (VALUES (-1), (0), (1)) AS beside(near)"
                " GROUP BY 1, 2"
            )
        )
    timings["build_records"] = time.perf_counter() - step
    with session_scope() as session:
        session.execute(text("ANALYZE"))
    timings["build_total"] = time.perf_counter() - started
    return timings


def median_seconds(work: Callable[[], object], repeat: int) -> float:
    work()  # warm-up
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        work()
        runs.append(time.perf_counter() - began)
    return statistics.median(runs)


def measure(repeat: int) -> dict[str, float]:
    from sqlalchemy import func, select, text

    from core.db import session_scope
    from core.people.models import User
    from terminals.reports.cards import cards_of, month_report
    from terminals.reports.closing import close_month
    from terminals.reports.evidence import month_bounds
    from terminals.reports.rankings import rankings
    from terminals.sites.models import Site
    from terminals.sync.models import SiteRecord

    figures: dict[str, float] = {}
    first, after = month_bounds(2026, 10)
    with session_scope() as session:
        actor = session.scalars(select(User).where(User.login == "bench-root")).one()
        site = session.scalars(select(Site).order_by(Site.id).limit(1)).one()

        def baseline() -> object:
            return session.execute(
                select(SiteRecord.site_id, func.count())
                .where(
                    SiteRecord.kind == "interval",
                    SiteRecord.occurred_at >= first,
                    SiteRecord.occurred_at < after,
                )
                .group_by(SiteRecord.site_id)
            ).all()

        figures["baseline"] = median_seconds(baseline, repeat)
        began = time.perf_counter()
        stored = close_month(session, 2026, 10, today=TODAY)
        session.commit()
        figures["close"] = time.perf_counter() - began
        figures["cards_stored"] = stored
        figures["month_report"] = median_seconds(
            lambda: month_report(session, actor, 2026, 10, today=TODAY), repeat
        )
        figures["ranking"] = median_seconds(
            lambda: rankings(session, actor, 2026, 10, today=TODAY), repeat
        )
        figures["site_card"] = median_seconds(
            lambda: cards_of(session, [site], 2026, 11, today=TODAY), repeat
        )
        figures["site_card_closed"] = median_seconds(
            lambda: cards_of(session, [site], 2026, 10, today=TODAY), repeat
        )
        began = time.perf_counter()
        month_report(session, actor, 2026, 11, today=TODAY)
        session.commit()
        figures["live_month_report_cold"] = time.perf_counter() - began
        figures["live_month_report"] = median_seconds(
            lambda: month_report(session, actor, 2026, 11, today=TODAY), repeat
        )

        def after_uploads(share: int) -> Callable[[], object]:
            """The report after one site in `share` stored records of the last day since."""

            def work() -> object:
                day = TODAY - timedelta(days=1)
                session.execute(
                    text(
                        "UPDATE site_record_days SET revision = revision + 1"
                        " WHERE day BETWEEN :before AND :after AND site_id % :share = 0"
                    ),
                    {"before": day - timedelta(days=1), "after": day + timedelta(days=1),
                     "share": share},
                )  # fmt: skip
                return month_report(session, actor, 2026, 11, today=TODAY)

            return work

        figures["live_month_report_after_uploads"] = median_seconds(after_uploads(10), repeat)
        figures["live_month_report_after_a_day"] = median_seconds(after_uploads(1), 1)
        figures["records"] = session.scalar(select(func.count()).select_from(SiteRecord)) or 0
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--sites", type=int, default=5_000)
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--postgres", default=os.environ.get("YUANJIAO_BENCH_POSTGRES", DEFAULT_POSTGRES)
    )
    args = parser.parse_args()
    with scratch_home("yuanjiao-bench-report-"):
        os.environ["YUANJIAO_DATABASE_URL"] = fresh_postgres(args.postgres)
        for key in ("YUANJIAO_SECRET_KEY", "YUANJIAO_ID_HASH_KEY"):
            os.environ.setdefault(key, secrets.token_urlsafe(32))
        built = build(args.members, args.sites, args.records)
        for name, seconds in built.items():
            print(f"{name} {seconds:.1f}", flush=True)
        figures = measure(args.repeat)
    for name, value in figures.items():
        print(f"{name} {value:.3f}" if isinstance(value, float) else f"{name} {value}")
    reports = (
        "month_report",
        "ranking",
        "site_card",
        "live_month_report",
        "live_month_report_after_uploads",
    )
    worst = max(figures[name] for name in reports)
    print(
        f"reports_worst_s={worst:.3f} vs_baseline={worst / figures['baseline']:.1f}"
        f" target_met={'yes' if worst <= TARGET_SECONDS else 'no'}"
    )


if __name__ == "__main__":
    main()
