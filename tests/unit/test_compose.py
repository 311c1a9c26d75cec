"""compose/docker-compose.yml against the code it runs. No Docker engine runs here, so the
file is read as data: its services and their order of start, that every `agentledger`
command and option it names exists, that every AGENTLEDGER_* variable it sets is one the
code reads (and that the values parse as the settings would), that its ports are the ones
the code listens on, that nothing is published beyond the host's loopback, that no secret
is written in it, and that what it mounts from the repository is there."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import click
import pytest
import yaml

from agentledger.cli import main
from kernel.config import Settings, load_settings
from tests.conftest import REPO

COMPOSE_DIR = REPO / "compose"
COMPOSE = yaml.safe_load((COMPOSE_DIR / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
LEDGER_SERVICES = ("api", "worker", "gateway")
# Read by processors/worker.py from the environment rather than the settings.
WORKER_ONLY_VARIABLES = {"AGENTLEDGER_READY_FILE"}
PROVISIONING = REPO / "dashboards" / "provisioning"
DATASOURCES = "".join(p.read_text() for p in PROVISIONING.glob("datasources/*.y*ml"))
# What Grafana's provisioned data source reads from its environment.
PROVISIONING_VARIABLES = set(re.findall(r"\$\{([A-Z0-9_]+)\}", DATASOURCES))
_INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?([-?])([^}]*))?\}")


def resolved(text: str) -> str:
    """``text`` as compose would interpolate it with an empty .env: defaults taken, and a
    required variable given a stand-in of letters and digits."""

    def value(match: re.Match[str]) -> str:
        name, kind, default = match.groups()
        return default if kind == "-" else f"placeholder{name.lower().replace('_', '')}"

    return _INTERPOLATION.sub(value, text)


def environment(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    assert isinstance(env, dict), f"{service}: environment as a mapping"
    return {key: resolved(str(value)) for key, value in env.items()}


def agentledger_commands() -> list[tuple[str, list[str]]]:
    """(service, arguments) of every `agentledger …` the file runs, healthchecks included."""
    found = []
    for name, service in SERVICES.items():
        for argv in (service.get("command"), service.get("healthcheck", {}).get("test")):
            if isinstance(argv, list):
                argv = [a for a in argv if a not in ("CMD", "CMD-SHELL")]
                if argv and argv[0] == "agentledger":
                    found.append((name, [resolved(str(a)) for a in argv[1:]]))
    return found


def command_args(service: str) -> list[str]:
    """The service's own command, after ``agentledger``."""
    command = [resolved(str(a)) for a in SERVICES[service]["command"]]
    assert command[0] == "agentledger", service
    return command[1:]


def host_port(service: str, container_port: int) -> str:
    """The host address a container port is published on ("" when not published)."""
    for mapping in SERVICES[service].get("ports", []):
        host, _, rest = str(mapping).partition(":")
        published, _, inside = rest.partition(":")
        if int(inside) == container_port:
            return f"{host}:{published}"
    return ""


def test_the_services_and_their_order_of_start() -> None:
    assert set(SERVICES) == {"kafka", "clickhouse", "api", "worker", "gateway", "grafana"}
    expected = {
        "api": {"kafka", "clickhouse"},  # it creates the topics and the tables
        "worker": {"api"},
        "gateway": {"api"},
        "grafana": {"clickhouse"},
    }
    for name, needs in expected.items():
        depends = SERVICES[name]["depends_on"]
        assert set(depends) == needs, name
        for needed in needs:
            assert depends[needed]["condition"] == "service_healthy", (name, needed)
    for name, service in SERVICES.items():
        test = service["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name


def test_kafka_runs_in_kraft_mode() -> None:
    env = environment("kafka")
    assert "broker" in env["KAFKA_PROCESS_ROLES"] and "controller" in env["KAFKA_PROCESS_ROLES"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert not any("ZOOKEEPER" in key for key in env)
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env["CLUSTER_ID"])  # 16 bytes, base64
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # `up` creates the topics


def test_workers_scale() -> None:
    """`--scale worker=N` needs replicas that clash on nothing: no fixed container name, no
    published port, no volume of their own."""
    worker = SERVICES["worker"]
    assert worker["command"] == ["agentledger", "worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert "volumes" not in worker
    for service in SERVICES.values():
        assert "container_name" not in service


def test_every_agentledger_command_and_option_exists() -> None:
    commands = agentledger_commands()
    assert {name for name, _ in commands} >= {"api", "worker", "gateway"}
    for service, args in commands:
        context = click.Context(main)
        command = main.get_command(context, args[0])
        assert command is not None, f"{service}: no `agentledger {args[0]}`"
        options = {opt for param in command.params for opt in param.opts}
        for arg in args[1:]:
            if arg.startswith("--"):
                assert arg in options, f"{service}: `agentledger {args[0]}` has no {arg}"
        # The arguments parse as the command's own.
        command.make_context(args[0], list(args[1:]), parent=context)


def test_every_agentledger_variable_is_read_and_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    known = {f"AGENTLEDGER_{name.upper()}" for name in Settings.model_fields}
    worker_source = (REPO / "processors" / "worker.py").read_text()
    for name in WORKER_ONLY_VARIABLES:
        assert f'os.environ.get("{name}")' in worker_source
    for service in SERVICES:
        env = environment(service)
        names = {key for key in env if key.startswith("AGENTLEDGER_")}
        allowed = known | (WORKER_ONLY_VARIABLES if service == "worker" else set())
        if service == "grafana":
            allowed = allowed | PROVISIONING_VARIABLES
        assert names <= allowed, f"{service}: {sorted(names - allowed)} are read by nothing"
    for service in LEDGER_SERVICES:
        for key in list(Settings.model_fields):
            monkeypatch.delenv(f"AGENTLEDGER_{key.upper()}", raising=False)
        for key, value in environment(service).items():
            monkeypatch.setenv(key, value)
        settings = load_settings()  # raises with the setting's name when a value is wrong
        assert settings.kafka == "kafka:9092", service
        assert settings.database == "agentledger" and settings.topic_prefix == "ledger"
    # One database for everything that names it.
    named = {environment(s)["AGENTLEDGER_DATABASE"] for s in LEDGER_SERVICES}
    assert named == {"agentledger"}


def test_ports_are_the_codes_and_published_on_loopback_only() -> None:
    for name, spec in SERVICES.items():
        for mapping in spec.get("ports", []):
            assert str(mapping).startswith("127.0.0.1:"), f"{name} publishes {mapping}"
    # Kafka: the bootstrap address the ledger's processes use is the broker's listener.
    kafka = environment("kafka")
    assert "INTERNAL://kafka:9092" in kafka["KAFKA_ADVERTISED_LISTENERS"]
    assert "kafka:9092" in " ".join(SERVICES["kafka"]["healthcheck"]["test"])
    assert host_port("kafka", 29092) == "127.0.0.1:29092"
    assert "HOST://127.0.0.1:29092" in kafka["KAFKA_ADVERTISED_LISTENERS"]
    # ClickHouse: the ledger's URL is the server's HTTP interface, which its healthcheck asks.
    for service in ("api", "worker"):
        url = urlsplit(environment(service)["AGENTLEDGER_CLICKHOUSE_URL"])
        assert (url.scheme, url.hostname, url.port) == ("http", "clickhouse", 8123)
    assert "127.0.0.1:8123/ping" in " ".join(SERVICES["clickhouse"]["healthcheck"]["test"])
    # The API: the port `up --http-port` is given, on every interface inside the container.
    api_args = command_args("api")
    http_port = int(api_args[api_args.index("--http-port") + 1])
    # Every interface inside the container; the host publishes it on loopback.
    assert environment("api")["AGENTLEDGER_HTTP_HOST"] == "0.0.0.0"  # noqa: S104
    assert host_port("api", http_port) == f"127.0.0.1:{http_port}"
    # The gateway: the default port of `--listen`, which the healthcheck connects to.
    gateway = main.get_command(click.Context(main), "gateway")
    assert gateway is not None
    default = next(p.default for p in gateway.params if p.name == "listen")
    gateway_args = command_args("gateway")
    listen = gateway_args[gateway_args.index("--listen") + 1]
    port = int(listen.rpartition(":")[2])
    assert port == int(str(default).rpartition(":")[2]) == 8930
    assert host_port("gateway", port) == f"127.0.0.1:{port}"
    assert f"'127.0.0.1', {port}" in " ".join(SERVICES["gateway"]["healthcheck"]["test"])
    assert host_port("grafana", 3000) == "127.0.0.1:3000"


def test_no_secret_is_written_in_the_file() -> None:
    secretish = re.compile(r"PASSWORD|SECRET|KEY|TOKEN")
    for name, service in SERVICES.items():
        for key, value in service.get("environment", {}).items():
            text = str(value)
            if secretish.search(key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", text), f"{name}: {key}"
            if "@" in text and "://" in text:  # a URL with a user: its password from .env
                assert re.search(r":\$\{[A-Z0-9_]+:\?[^}]*\}@", text), f"{name}: {key}"
    example = (COMPOSE_DIR / ".env.example").read_text()
    for line in example.splitlines():
        key, _, value = line.partition("=")
        if line and not line.startswith("#") and secretish.search(key):
            assert value == "", f".env.example gives {key} a value"
    # Every required variable the file names is in the example .env.
    required = set(
        re.findall(r"\$\{([A-Z0-9_]+):\?", (COMPOSE_DIR / "docker-compose.yml").read_text())
    )
    listed = {line.partition("=")[0] for line in example.splitlines() if "=" in line}
    assert required <= listed, sorted(required - listed)


def test_what_it_mounts_and_builds_is_in_the_repository() -> None:
    mounts = [
        (name, str(volume).split(":")[0])
        for name, service in SERVICES.items()
        for volume in service.get("volumes", [])
    ]
    named = set(COMPOSE["volumes"])
    for name, source in mounts:
        if not source.startswith("."):
            assert source in named, f"{name}: volume {source} is not declared"
            continue
        path = (COMPOSE_DIR / source).resolve()
        assert path.exists(), f"{name} mounts {source}, which is not in the repository"
    grafana = dict((target, source) for source, target in _binds("grafana"))
    assert grafana["/etc/grafana/provisioning"] == "../dashboards/provisioning"
    assert "grafana-clickhouse-datasource" in DATASOURCES
    assert "defaultDatabase: agentledger" in DATASOURCES
    # Every variable the provisioning reads is one the Grafana service is given.
    given = set(environment("grafana"))
    assert PROVISIONING_VARIABLES and given >= PROVISIONING_VARIABLES, sorted(
        PROVISIONING_VARIABLES - given
    )
    # The provider reads its dashboards where the committed JSON is mounted.
    providers = [
        provider
        for path in PROVISIONING.glob("dashboards/*.y*ml")
        for provider in yaml.safe_load(path.read_text())["providers"]
    ]
    assert providers, "no dashboards provider"
    for provider in providers:
        assert grafana[provider["options"]["path"]] == "../dashboards/json"
    assert list((REPO / "dashboards" / "json").glob("*.json")), "no dashboard JSON committed"
    assert "grafana-clickhouse-datasource" in environment("grafana")["GF_PLUGINS_PREINSTALL_SYNC"]
    init = _binds("clickhouse")
    assert ("./clickhouse/initdb", "/docker-entrypoint-initdb.d") in init
    script = (COMPOSE_DIR / "clickhouse" / "initdb" / "10-analyst.sh").read_text()
    assert "readonly = 1" in script and "GRANT SELECT ON" in script
    for service in LEDGER_SERVICES:
        build = SERVICES[service]["build"]
        dockerfile = (COMPOSE_DIR / build["context"] / build["dockerfile"]).resolve()
        assert dockerfile.is_file(), f"{service}: no {dockerfile}"
        assert SERVICES[service]["image"] == "agentledger:local"


def _binds(service: str) -> list[tuple[str, str]]:
    binds = []
    for volume in SERVICES[service].get("volumes", []):
        source, target = str(volume).split(":")[:2]
        binds.append((source, target))
    return binds


def test_the_image_copies_every_package_the_project_installs() -> None:
    dockerfile = (COMPOSE_DIR / "Dockerfile").read_text()
    pyproject = (REPO / "pyproject.toml").read_text()
    include = re.search(r"include = \[(.*?)\]", pyproject)
    assert include is not None
    packages = [p.strip(' "*') for p in include.group(1).split(",")]
    for package in [*packages, "schemas"]:
        assert f"COPY {package} {package}" in dockerfile, package


def test_the_image_compiles_the_hot_path_with_a_real_command() -> None:
    dockerfile = (COMPOSE_DIR / "Dockerfile").read_text()
    assert "agentledger native build" in dockerfile
    native = main.get_command(click.Context(main), "native")
    assert isinstance(native, click.Group)
    assert native.get_command(click.Context(native), "build") is not None
    # The build's cache is a directory the image keeps, named where every process reads it.
    assert re.search(r"^ENV AGENTLEDGER_NATIVE_DIR=/\S+", dockerfile, flags=re.M)


def test_the_readmes_commands_exist() -> None:
    """Every `agentledger …` line of compose/README.md's examples names a real command and
    real options, and parses."""
    readme = (COMPOSE_DIR / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, flags=re.DOTALL)
    lines = [
        line.split("agentledger ", 1)[1].split("#")[0].split()
        for block in blocks
        for line in block.splitlines()
        if "agentledger " in line and not line.lstrip().startswith("#")
    ]
    assert len(lines) >= 4
    for words in lines:
        group: click.Command = main
        context = click.Context(main)
        while isinstance(group, click.Group) and words and not words[0].startswith("-"):
            found = group.get_command(context, words[0])
            assert found is not None, f"no `agentledger … {words[0]}`"
            context = click.Context(found, parent=context, info_name=words[0])
            group, words = found, words[1:]
        group.make_context(str(context.info_name), [w.replace("…", "x") for w in words])
