"""Third-party tus clients: discovery with or without the trailing slash, and the README's worked
example with the Python client tuspy, run as it is printed against a live server."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.people.models import Role
from core.settings import get_settings
from courseware.models import Lesson
from courseware.service import create_course
from tests.factories import PASSWORD, make_tree, make_user
from tests.media import make_clip
from tests.server import running_server

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("path", ["/api/uploads", "/api/uploads/"])
def test_options_tells_the_tus_capabilities_without_a_session(
    client: TestClient, path: str
) -> None:
    response = client.options(path)
    assert response.status_code == 204, response.text
    assert response.headers["tus-resumable"] == "1.0.0"
    assert response.headers["tus-version"] == "1.0.0"
    assert response.headers["tus-max-size"] == str(get_settings().max_upload_bytes)
    extensions = response.headers["tus-extension"].split(",")
    assert {"creation", "termination", "expiration"} <= set(extensions)
    assert "concatenation" not in extensions  # refused by the upload rules
    # discovery tells nothing else: creating an upload still needs a session
    assert client.post(path, headers={"tus-resumable": "1.0.0"}).status_code == 401


def _readme_example() -> str:
    section = README.read_text().split("## Uploading with any tus client", 1)[1]
    section = section.split("\n## ", 1)[0]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None, "the README's tus section has no Python example"
    return found[1]


def test_the_readme_example_uploads_a_lesson(session: Session, tmp_path: Path, home: Path) -> None:
    tree = make_tree(session)
    publisher = make_user(session, "pub", Role.publisher, tree.town)
    course = create_course(session=session, user=publisher, title="第三方上传", org_id=tree.town.id)
    session.commit()
    script = tmp_path / "upload.py"
    script.write_text(_readme_example())
    clip = make_clip(tmp_path / "课堂.mp4", seconds=2)
    with running_server(tmp_path) as server:
        environment = {
            **os.environ,
            "YUANJIAO_URL": server.url,
            "YUANJIAO_LOGIN": "pub",
            "YUANJIAO_PASSWORD": PASSWORD,
            "YUANJIAO_COURSE": str(course.id),
        }
        run = subprocess.run(
            [sys.executable, str(script), str(clip)],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, (run.stderr, server.log_tail())
    session.expire_all()
    lesson = session.scalars(select(Lesson).where(Lesson.course_id == course.id)).one()
    assert lesson.title == "第一课" and lesson.created_by == publisher.id
    assert run.stdout.strip() == f"lesson {lesson.id}: 第一课 (queued)"
