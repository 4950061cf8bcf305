"""One tasks module lists every task module and every schedule; everything that starts tasks
names only that module."""

from __future__ import annotations

import re
from pathlib import Path

from medianest.tasks import registry

ROOT = Path(__file__).resolve().parents[2]


def _modules_defining_tasks() -> set[str]:
    return {f"medianest.tasks.{path.stem}" for path in (ROOT / "medianest" / "tasks").glob("*.py")
            if re.search(r"^@broker\.task\b", path.read_text(encoding="utf-8"), re.MULTILINE)}


def test_every_task_module_is_listed():
    assert {module.__name__ for module in registry.TASK_MODULES} == _modules_defining_tasks()


def test_every_schedule_names_a_registered_task():
    for item in registry.schedules():
        assert registry.broker.find_task(item.task_name) is not None, item.task_name


async def test_the_scheduler_source_sends_every_schedule():
    sent = await registry.MediaNestScheduleSource().get_schedules()
    assert [(s.task_name, s.interval) for s in sent] == [(s.task_name, s.interval_s) for s in registry.schedules()]


def test_worker_scheduler_compose_e2e_and_bench_name_only_the_registry():
    files = [ROOT / "Makefile", ROOT / "docker-compose.yml", ROOT / "tests" / "e2e" / "conftest.py",
             *sorted((ROOT / "bench").glob("*.py"))]
    named = {path.name: set(re.findall(r"medianest\.tasks\.[a-z_]+", path.read_text(encoding="utf-8")))
             for path in files}
    assert named["Makefile"] == named["docker-compose.yml"] == named["conftest.py"] == {"medianest.tasks.registry"}
    assert all(found <= {"medianest.tasks.registry"} for found in named.values()), named
