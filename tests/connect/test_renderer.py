"""Connect renderer: every platform x kind x hostile name yields code that parses, reads
exactly one table whose name round-trips, and carries secrets only as lookups."""

from __future__ import annotations

import ast
import re
from typing import Any

import jinja2
import pytest
import sqlglot
import yaml
from jinja2.sandbox import SecurityError
from sqlglot import exp

from datamesh.connect import renderer
from datamesh.connect.quoting import (
    InvalidIdentifier,
    dbt_str,
    py_literal,
    py_str,
    quote_ident,
    url_component,
    yaml_str,
)
from datamesh.connect.renderer import (
    PLATFORMS,
    DatasetSource,
    FieldInfo,
    InvalidProfile,
    ProfileInfo,
    UnsupportedKind,
    UnsupportedPlatform,
    available_kinds,
    render,
)

KINDS = ["python", "sql", "pyspark", "jdbc", "dbt"]
SQLGLOT_DIALECT = {
    "snowflake": "snowflake",
    "databricks": "databricks",
    "bigquery": "bigquery",
    "redshift": "redshift",
    "postgresql": "postgres",
}
# Which parts of db.schema.table each platform writes into its SQL.
QUALIFIES_DATABASE = {"snowflake", "databricks", "bigquery"}

HOSTILE = [
    "orders",
    'weird "name"; drop table x',
    "name with spaces",
    "日本語",
    "new\nline",
    "tab\tand\r\ncrlf",
    "back\\slash\\",
    "back`tick``",
    "it's",
    "'\"'\"",
    "select",
    "order",
    "MixedCase",
    "{{ config.__class__ }}{% raw %}",
    "-- comment */ /* x",
    "$dollar ${HOME} %s %(x)s",
    "semi;colon&amp=1?q#frag",
    "emoji 😀",
    "\u202etrojan\u2066",
    "nel\x85ls\u2028ps\u2029bom\ufeff",
    "a.b",
]
SENTINELS = ("SENTINEL-RAW-PASSWORD", "dapiSENTINELTOKEN", "-----BEGIN PRIVATE KEY-----")


def profile_for(platform: str, user: str = "alice", scheme: str = "env") -> ProfileInfo:
    """A complete profile whose secrets use ``scheme``, plus raw secrets in the wrong
    places (settings) that must never be rendered."""

    def ref(name: str) -> str:
        return {
            "env": f"env:DM_{name.upper()}",
            "file": f"file:/run/secrets/{name}",
            "vault": f"vault:secret/datamesh/{platform}#{name}",
        }[scheme]

    misplaced = {"password": SENTINELS[0], "token": SENTINELS[1], "private_key": SENTINELS[2]}
    settings: dict[str, Any]
    if platform == "snowflake":
        settings = {"account": "xy12345.eu-west-1", "user": user, "role": user, "warehouse": user}
        secrets = {"password": ref("password")}
    elif platform == "databricks":
        settings = {
            "workspace_host": "https://adb-1234.5.azuredatabricks.net/",
            "http_path": "/sql/1.0/warehouses/abc123",
            "catalog": "main",
        }
        secrets = {"token": ref("token")}
    elif platform == "bigquery":
        settings = {"project": "billing-proj", "location": "EU"}
        settings["credentials_method"] = "service_account_file"
        secrets = {"credentials_file": ref("credentials_file")}
    elif platform == "redshift":
        settings = {
            "host": "c1.abc.us-east-1.redshift.amazonaws.com",
            "port": 5439,
            "database": "dev",
            "user": user,
        }
        secrets = {"password": ref("password")}
    else:
        settings = {"host": "db.example.com", "port": "5433", "database": "app", "user": user}
        secrets = {"password": ref("password")}
    return ProfileInfo(platform=platform, settings={**misplaced, **settings}, secrets=secrets)


def hostile_dataset(platform: str, name: str) -> DatasetSource:
    return DatasetSource(
        namespace=f"{platform}://example",
        name=name,
        platform=platform,
        database=f"db {name}",
        schema=f"sch {name}",
        table=name,
        fields=[FieldInfo(name=name, type=name), FieldInfo(name="id", type="bigint")],
    )


def dbt_value(value: str) -> str:
    """What dbt sees: it renders YAML strings through Jinja."""
    return jinja2.Environment().from_string(value).render()


def single_table(sql: str, dialect: str) -> exp.Table:
    statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    assert len(statements) == 1, sql
    select = statements[0]
    assert isinstance(select, exp.Select), sql
    tables = list(select.find_all(exp.Table))
    assert len(tables) == 1, sql
    return tables[0]


def module_constants(tree: ast.Module) -> dict[str, Any]:
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and isinstance(node.value, ast.Constant):
                found[target.id] = node.value.value
    return found


def calls_to(tree: ast.AST, attr: str) -> int:
    return sum(
        1
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == attr
    )


def check_python(platform: str, kind: str, content: str, ds: DatasetSource) -> None:
    tree = ast.parse(content)
    compile(tree, "<connect>", "exec")
    doc = ast.get_docstring(tree) or ""
    if "import hvac" in content:  # the install line names every package the code imports
        assert "pip install" in doc and "hvac" in doc.split("pip install", 1)[1], doc
    else:
        assert "hvac" not in doc
    consts = module_constants(tree)
    assert consts["DATASET"] == ds.name
    if "QUERY" in consts:
        table = single_table(consts["QUERY"], SQLGLOT_DIALECT[platform])
        assert table.name == ds.table
        assert table.db == ds.schema
        if platform in QUALIFIES_DATABASE:
            assert table.catalog == ds.database
    elif platform == "databricks":
        table = single_table(f"SELECT * FROM {consts['TABLE']}", "databricks")
        assert (table.catalog, table.db, table.name) == (ds.database, ds.schema, ds.table)
    else:
        assert platform == "bigquery"
        assert consts["TABLE"] == ds.table
    # exactly one read
    if kind == "python":
        reads = calls_to(tree, "execute") + calls_to(tree, "query")
    else:
        reads = calls_to(tree, "load") + calls_to(tree, "table")
    assert reads == 1, content
    # no secret passed as a literal
    assert not re.search(r"(password|token|secret|private_key)\w*\s*=\s*[rbf]?['\"]", content)


def check_sql(platform: str, content: str, ds: DatasetSource) -> None:
    table = single_table(content, SQLGLOT_DIALECT[platform])
    assert table.name == ds.table
    assert table.db == ds.schema
    if platform in QUALIFIES_DATABASE:
        assert table.catalog == ds.database


def check_jdbc(content: str) -> None:
    url = content.strip()
    assert url.startswith("jdbc:")
    assert content.count("\n") == 1
    assert not re.search(r"\s", url), url
    assert "password" not in url.lower()
    assert "pwd=" not in url.lower()


def check_dbt(content: str, ds: DatasetSource) -> None:
    doc = yaml.safe_load(content)
    assert doc["version"] == 2
    (source,) = doc["sources"]
    (table,) = source["tables"]
    assert dbt_value(table["identifier"]) == ds.table
    assert dbt_value(source["schema"]) == ds.schema
    assert dbt_value(source["database"]) == ds.database
    assert [dbt_value(c["name"]) for c in table["columns"]] == [f.name for f in ds.fields]
    assert re.fullmatch(r"[a-z0-9_]+", table["name"])


@pytest.mark.parametrize("name", HOSTILE)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("platform", sorted(SQLGLOT_DIALECT))
def test_every_platform_kind_and_hostile_name(platform: str, kind: str, name: str) -> None:
    ds = hostile_dataset(platform, name)
    if platform == "bigquery" and "." in name:
        # a dot inside BigQuery backticks is a path separator: such a name cannot exist
        with pytest.raises(InvalidIdentifier):
            render(ds, profile_for(platform, user=name), kinds=[kind])
        return
    result = render(ds, profile_for(platform, user=name), kinds=[kind])
    (artifact,) = result.artifacts
    assert artifact.kind == kind
    content = artifact.content
    assert content.endswith("\n")
    if artifact.language == "python":
        check_python(platform, kind, content, ds)
    elif kind == "sql":
        check_sql(platform, content, ds)
    elif kind == "jdbc":
        check_jdbc(content)
    elif kind == "dbt":
        check_dbt(content, ds)
    for sentinel in SENTINELS:
        assert sentinel not in content
        assert all(sentinel not in w for w in result.warnings)


def test_platforms_and_kinds_are_discovered_from_template_folders() -> None:
    assert set(PLATFORMS) == set(SQLGLOT_DIALECT)
    for platform in PLATFORMS:
        assert available_kinds(platform) == KINDS
    assert available_kinds("postgres") == KINDS  # OpenLineage spelling


def test_default_render_gives_every_kind_with_sensible_filenames() -> None:
    ds = DatasetSource(
        namespace="snowflake://xy12345", name="ANALYTICS.PUBLIC.ORDERS", platform="snowflake"
    )
    result = render(ds, profile_for("snowflake"))
    assert [(a.kind, a.language, a.filename) for a in result.artifacts] == [
        ("python", "python", "connect_orders.py"),
        ("sql", "sql", "query.sql"),
        ("pyspark", "python", "spark_orders.py"),
        ("jdbc", "text", "jdbc_url.txt"),
        ("dbt", "yaml", "sources.yml"),
    ]
    assert result.warnings == []


def test_unknown_platform_and_kind_are_refused() -> None:
    ds = DatasetSource(namespace="oracle://x", name="a.b", platform="oracle")
    with pytest.raises(UnsupportedPlatform) as info:
        render(ds, ProfileInfo(platform="oracle"))
    assert isinstance(info.value, ValueError)
    with pytest.raises(UnsupportedPlatform):
        available_kinds("oracle")
    pg = DatasetSource(namespace="postgres://h", name="a.b", platform="postgresql")
    with pytest.raises(UnsupportedKind):
        render(pg, profile_for("postgresql"), kinds=["terraform"])


@pytest.mark.parametrize(
    ("platform", "name", "expected"),
    [
        ("snowflake", "ANALYTICS.PUBLIC.ORDERS", '"ANALYTICS"."PUBLIC"."ORDERS"'),
        ("snowflake", "ORDERS", '"PUBLIC"."ORDERS"'),
        ("databricks", "main.sales.orders", "`main`.`sales`.`orders`"),
        ("databricks", "orders", "`main`.`default`.`orders`"),  # catalog from the profile
        ("bigquery", "proj-1.sales.orders", "`proj-1`.`sales`.`orders`"),
        ("bigquery", "example.com:proj.sales.orders", "`example.com:proj`.`sales`.`orders`"),
        ("bigquery", "sales.orders", "`billing-proj`.`sales`.`orders`"),
        ("redshift", "dev.public.orders", '"public"."orders"'),
        ("postgresql", "orders", '"public"."orders"'),
    ],
)
def test_names_are_derived_from_the_dataset_name(platform: str, name: str, expected: str) -> None:
    ds = DatasetSource(namespace=f"{platform}://h", name=name, platform=platform)
    (sql,) = render(ds, profile_for(platform), kinds=["sql"]).artifacts
    assert f"FROM {expected}\n" in sql.content


def test_connection_database_comes_from_the_dataset_for_postgres() -> None:
    ds = DatasetSource(
        namespace="postgres://h", name="warehouse.sales.orders", platform="postgresql"
    )
    result = render(ds, profile_for("postgresql"), kinds=["python", "jdbc"])
    python, jdbc = result.artifacts
    assert 'dbname="warehouse"' in python.content
    assert jdbc.content == "jdbc:postgresql://db.example.com:5433/warehouse?user=alice\n"


SECRET_KEY = {
    "snowflake": "password",
    "databricks": "token",
    "bigquery": "credentials_file",
    "redshift": "password",
    "postgresql": "password",
}


@pytest.mark.parametrize("scheme", ["env", "file", "vault"])
@pytest.mark.parametrize("platform", sorted(SQLGLOT_DIALECT))
def test_secrets_are_read_through_their_reference(platform: str, scheme: str) -> None:
    ds = DatasetSource(namespace=f"{platform}://h", name="a.b.c", platform=platform)
    result = render(ds, profile_for(platform, scheme=scheme), kinds=["python"])
    (artifact,) = result.artifacts
    code = artifact.content
    key = SECRET_KEY[platform]
    if scheme == "env":
        assert f'os.environ["DM_{key.upper()}"]' in code
        assert "import os\n" in code
    elif scheme == "file" and platform == "bigquery":
        # a key file is handed to the client library by path, not read into memory
        assert f'from_service_account_file("/run/secrets/{key}")' in code
    elif scheme == "file":
        assert f'pathlib.Path("/run/secrets/{key}").read_text().strip()' in code
        assert "import pathlib\n" in code
    else:
        assert f'vault_secret("secret", "datamesh/{platform}", "{key}")' in code
        assert 'hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])' in code
        assert "read_secret_version(mount_point=mount, path=path)" in code
        assert "import hvac\n" in code
    assert not re.search(r"password\s*=\s*['\"]", code)
    assert result.warnings == []
    ast.parse(code)


MISSING_ENV = {
    "snowflake": "SNOWFLAKE_PASSWORD",
    "databricks": "DATABRICKS_TOKEN",
    "redshift": "REDSHIFT_PASSWORD",
    "postgresql": "PGPASSWORD",
}


@pytest.mark.parametrize("platform", sorted(MISSING_ENV))
def test_missing_secret_reads_a_named_variable_and_warns(platform: str) -> None:
    full = profile_for(platform)
    profile = ProfileInfo(platform=platform, settings=full.settings, secrets={})
    ds = DatasetSource(namespace=f"{platform}://h", name="a.b.c", platform=platform)
    result = render(ds, profile, kinds=["python", "pyspark"])
    env = MISSING_ENV[platform]
    assert any(env in w and "secret" in w for w in result.warnings)
    assert f'os.environ["{env}"]' in result.artifacts[0].content
    for artifact in result.artifacts:
        ast.parse(artifact.content)


def test_bigquery_service_account_without_key_falls_back_to_adc_path_variable() -> None:
    profile = ProfileInfo(
        "bigquery", {"project": "p-1", "credentials_method": "service_account_file"}
    )
    ds = DatasetSource(namespace="bigquery", name="p-1.d.t", platform="bigquery")
    result = render(ds, profile)
    python = result.artifacts[0].content
    assert (
        'from_service_account_file(\n        os.environ["GOOGLE_APPLICATION_CREDENTIALS"]\n    )'
        in python
    )
    assert any("GOOGLE_APPLICATION_CREDENTIALS" in w for w in result.warnings)


def test_bigquery_adc_needs_no_secret() -> None:
    ds = DatasetSource(namespace="bigquery", name="p-1.d.t", platform="bigquery")
    result = render(ds, ProfileInfo("bigquery", {"project": "p-1"}))
    assert result.warnings == []
    assert "service_account" not in result.artifacts[0].content
    assert "OAuthType=3" in result.artifacts[3].content


def test_missing_settings_read_named_variables_and_placeholders() -> None:
    ds = DatasetSource(namespace="x", name="sales.orders", platform="postgresql")
    result = render(ds, ProfileInfo("postgresql"))
    python, _, pyspark, jdbc, _ = (a.content for a in result.artifacts)
    assert 'host=os.environ["PGHOST"]' in python
    assert jdbc == "jdbc:postgresql://${PGHOST}:5432/${PGDATABASE}?user=${PGUSER}\n"
    assert "string.Template(JDBC_URL).substitute(os.environ)" in pyspark
    assert any("PGHOST" in w for w in result.warnings)
    assert len(result.warnings) == len(set(result.warnings))


def test_snowflake_key_pair_and_external_browser() -> None:
    ds = DatasetSource(namespace="snowflake://xy", name="D.S.T", platform="snowflake")
    key_pair = ProfileInfo(
        "snowflake",
        {"account": "xy", "user": "svc"},
        {"private_key": "vault:kv/sf#pem", "private_key_passphrase": "env:SF_KEY_PASS"},
    )
    result = render(ds, key_pair, kinds=["python", "pyspark"])
    python, pyspark = (a.content for a in result.artifacts)
    assert "private_key=private_key_der()" in python
    assert 'password=os.environ["SF_KEY_PASS"].encode()' in python
    assert '"pem_private_key": re.sub(' in pyspark
    assert "password=" not in python.replace('password=os.environ["SF_KEY_PASS"]', "")
    assert result.warnings == []
    browser = ProfileInfo(
        "snowflake", {"account": "xy", "user": "me", "authenticator": "externalbrowser"}
    )
    result = render(ds, browser, kinds=["python"])
    assert "password" not in result.artifacts[0].content
    assert 'authenticator="externalbrowser"' in result.artifacts[0].content
    assert result.warnings == []


def test_redshift_iam_and_serverless() -> None:
    ds = DatasetSource(namespace="redshift://h", name="dev.public.orders", platform="redshift")
    iam = ProfileInfo("redshift", {"host": "c1.x.us-east-1.redshift.amazonaws.com", "iam": "true"})
    python, jdbc = (a.content for a in render(ds, iam, kinds=["python", "jdbc"]).artifacts)
    assert "iam=True" in python and "password" not in python
    assert jdbc.startswith("jdbc:redshift:iam://c1.x.us-east-1.redshift.amazonaws.com:5439/dev")
    serverless = ProfileInfo(
        "redshift", {"workgroup": "wg", "account_id": "123456789012", "region": "us-east-1"}
    )
    python, jdbc = (a.content for a in render(ds, serverless, kinds=["python", "jdbc"]).artifacts)
    assert 'serverless_work_group="wg"' in python and "password" not in python
    assert (
        jdbc
        == "jdbc:redshift:iam://wg.123456789012.us-east-1.redshift-serverless.amazonaws.com:5439/dev\n"
    )


def test_redshift_warns_about_case_folding() -> None:
    ds = DatasetSource(namespace="redshift://h", name="dev.Public.Orders", platform="redshift")
    result = render(ds, profile_for("redshift"), kinds=["sql"])
    assert any("enable_case_sensitive_identifier" in w for w in result.warnings)


def test_namespace_supplies_host_and_port() -> None:
    ds = DatasetSource(namespace="postgres://pg.internal:6543", name="db.s.t", platform="postgres")
    result = render(ds, ProfileInfo("postgres", {"user": "u"}), kinds=["jdbc"])
    assert result.artifacts[0].content == "jdbc:postgresql://pg.internal:6543/db?user=u\n"
    # catalog data decides where credentials would go, so the user is told
    assert any("pg.internal" in w and "namespace" in w for w in result.warnings)
    profile = ProfileInfo("postgres", {"host": "mine.example.com", "user": "u"})
    result = render(ds, profile, kinds=["jdbc"])
    assert result.artifacts[0].content.startswith("jdbc:postgresql://mine.example.com:6543/")


def test_profile_for_another_platform_contributes_nothing() -> None:
    ds = DatasetSource(namespace="x", name="d.s.t", platform="snowflake")
    other = ProfileInfo("postgresql", {"user": "pg-user-name"}, {"password": "env:PG_SECRET_VAR"})
    result = render(ds, other)
    assert any("another platform" in w for w in result.warnings)
    assert all(
        "pg-user-name" not in a.content and "PG_SECRET_VAR" not in a.content
        for a in result.artifacts
    )


@pytest.mark.parametrize(
    "secret", ["hunter2", "env:9bad", "file:relative/path", "vault:no-key", "file:/a/../etc/shadow"]
)
def test_raw_or_malformed_secret_is_refused_without_echo(secret: str) -> None:
    ds = DatasetSource(namespace="x", name="d.s.t", platform="postgresql")
    with pytest.raises(InvalidProfile) as info:
        render(ds, ProfileInfo("postgresql", {}, {"password": secret}))
    assert secret not in str(info.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("host", "db.example.com/evil?x="),
        ("host", "a;b"),
        ("port", "70000"),
        ("port", True),
        ("iam", "maybe"),
        ("user", ["list"]),
    ],
)
def test_malformed_settings_are_refused_without_echo(key: str, value: Any) -> None:
    ds = DatasetSource(namespace="x", name="d.s.t", platform="redshift")
    with pytest.raises(InvalidProfile) as info:
        render(ds, ProfileInfo("redshift", {key: value}))
    assert str(value) not in str(info.value)


def test_templates_are_sandboxed_and_compiled_once() -> None:
    renderer.preload()
    env = renderer._environment()
    assert env is renderer._environment()
    assert renderer._template("snowflake", "python") is renderer._template("snowflake", "python")
    with pytest.raises(SecurityError):
        env.from_string("{{ x.__class__.__mro__ }}").render(x="")
    with pytest.raises(SecurityError):
        env.from_string("{% do items.append(1) %}").render(items=[])
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ nothing }}").render()


# --- the encoders on their own -------------------------------------------------------------

# Every code point except surrogates, in chunks, plus the hostile names.
ALL_CHARS = [
    "".join(chr(c) for c in range(start, min(start + 2048, 0x110000)) if not 0xD800 <= c <= 0xDFFF)
    for start in range(0, 0x30000, 2048)
] + [chr(0x10FFFF)]
SAMPLES = [s for s in HOSTILE + ALL_CHARS if s]


@pytest.mark.parametrize("value", SAMPLES, ids=range(len(SAMPLES)))
def test_python_literal_round_trips(value: str) -> None:
    literal = py_str(value)
    assert "\n" not in literal and "\r" not in literal
    assert ast.literal_eval(literal) == value


@pytest.mark.parametrize("value", SAMPLES, ids=range(len(SAMPLES)))
def test_yaml_and_dbt_round_trip(value: str) -> None:
    assert yaml.safe_load(f"k: {yaml_str(value)}")["k"] == value
    assert dbt_value(yaml.safe_load(f"k: {dbt_str(value)}")["k"]) == value


@pytest.mark.parametrize("dialect", sorted(SQLGLOT_DIALECT.values()))
@pytest.mark.parametrize("value", [s.replace("\x00", "") for s in SAMPLES], ids=range(len(SAMPLES)))
def test_identifier_quoting_round_trips(dialect: str, value: str) -> None:
    if dialect == "bigquery":
        value = value.replace(".", "")
    quoted = quote_ident(value, dialect)
    table = single_table(f"SELECT * FROM {quoted} LIMIT 1", dialect)
    assert table.name == value


def test_quoting_details() -> None:
    assert quote_ident('a"b', "snowflake") == '"a""b"'
    assert quote_ident("a`b", "databricks") == "`a``b`"
    assert quote_ident("a`b\\c\n", "bigquery") == "`a\\`b\\\\c\\n`"
    assert py_literal(True) == "True" and py_literal(5439) == "5439" and py_literal(None) == "None"
    assert url_component("a b/c?d&e=f") == "a%20b%2Fc%3Fd%26e%3Df"
    for bad in ("", "a\x00b", "\ud800"):
        with pytest.raises(InvalidIdentifier):
            quote_ident(bad, "postgres")
    # in BigQuery a dot inside backticks separates path parts, even when escaped
    with pytest.raises(InvalidIdentifier):
        quote_ident("a.b", "bigquery")
    assert quote_ident("example.com:proj", "bigquery") == "`example.com:proj`"
    with pytest.raises(TypeError):
        py_literal(object())


def test_templates_are_compiled_once_and_rendered_per_call() -> None:
    # Issue 21: a Connect must not parse and compile its templates. The sandboxed environment
    # and each template are made once per process (the templates ship with the package and
    # never change while it runs, so nothing invalidates them); rendering is per call.
    assert renderer._environment() is renderer._environment()
    assert isinstance(renderer._environment(), jinja2.sandbox.ImmutableSandboxedEnvironment)
    template = renderer._template("postgresql", "python")
    assert renderer._template("postgresql", "python") is template
    compiled = renderer._environment().compile
    calls: list[str] = []

    def counting(*args: Any, **kw: Any) -> Any:
        calls.append(str(args[1] if len(args) > 1 else kw.get("name")))
        return compiled(*args, **kw)

    renderer._environment().compile = counting  # type: ignore[method-assign]
    try:
        a = render(
            DatasetSource(namespace="", name="db.s.one", platform="postgresql"),
            ProfileInfo("postgresql"),
            kinds=["python"],
        )
        b = render(
            DatasetSource(namespace="", name="db.s.two", platform="postgresql"),
            ProfileInfo("postgresql"),
            kinds=["python"],
        )
    finally:
        del renderer._environment().compile
    assert calls == [], "no template was compiled again"
    assert '"s"."one"' in a.artifacts[0].content and '"s"."two"' in b.artifacts[0].content
