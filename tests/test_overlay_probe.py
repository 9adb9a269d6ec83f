"""The overlay probe (a container run) is asked once per engine and filesystem, then remembered."""

from cursus_local.backends.inputs import known_overlay


class Engine:
    def __init__(self, engine_id):
        self.engine_id = engine_id

    def info(self):
        return {"ID": self.engine_id}


def test_the_probe_runs_once_per_engine_and_filesystem(tmp_path, monkeypatch):
    monkeypatch.setenv("CURSUS_LOCAL_CACHE", str(tmp_path))
    asked = []

    def probe(answer):
        return lambda: asked.append(answer) or answer

    assert known_overlay(Engine("A"), 1, probe("")) == ""
    assert known_overlay(Engine("A"), 1, probe("never asked")) == ""          # remembered on disk
    assert known_overlay(Engine("A"), 2, probe("no overlay on fs 2")) == "no overlay on fs 2"
    assert known_overlay(Engine("B"), 1, probe("other engine")) == "other engine"
    assert asked == ["", "no overlay on fs 2", "other engine"]
