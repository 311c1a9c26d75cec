"""What every ledger dashboard shares: the data source, the ledger database variable, the
ClickHouse plugin's query model, links to a session, and the three panel shapes.

The foundation SDK has no builder for the ClickHouse plugin's queries, so ``ClickHouseQuery``
is one: a raw SQL query as the plugin (v4) saves it, ``editorType: sql`` with ``format`` 0
(time series; the plugin turns long rows with a string column into one series per value)
or 1 (table).
"""

from __future__ import annotations

import re
from textwrap import indent

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

PLUGIN = "grafana-clickhouse-datasource"
# The uid the provisioned data source has (provisioning/datasources/agentledger.yaml).
DATASOURCE_UID = "agentledger-clickhouse"
DATASOURCE = model.DataSourceRef(type_val=PLUGIN, uid="${datasource}")
DEFAULT_DATABASE = "agentledger"
TAG = "agentledger"
TIME_SERIES = 0
TABLE = 1
SESSION_DASHBOARD = "agentledger-session"

# Every ledger database holds an attributions table; offered for the database variable.
LEDGER_DATABASES_SQL = (
    "SELECT database FROM system.tables WHERE name = 'attributions' ORDER BY database"
)


class ClickHouseQuery(cogvariants.Dataquery):
    """One raw SQL query of the ClickHouse data source."""

    def __init__(self, sql: str, fmt: int, ref_id: str = "A") -> None:
        self.sql = sql
        self.fmt = fmt
        self.ref_id = ref_id

    def to_json(self) -> dict[str, object]:
        return {
            "refId": self.ref_id,
            "datasource": DATASOURCE,
            "editorType": "sql",
            "queryType": "timeSeries" if self.fmt == TIME_SERIES else "table",
            "format": self.fmt,
            "rawSql": self.sql,
        }


class Query(cogbuilder.Builder[ClickHouseQuery]):
    def __init__(self, sql: str, fmt: int) -> None:
        self._query = ClickHouseQuery(sql, fmt)

    def build(self) -> ClickHouseQuery:
        return self._query


def sql(text: str) -> str:
    """``text`` as it is kept in the JSON: the indentation of the Python source dropped, so
    the SQL reads as written in Grafana's editor."""
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    indent = min((len(line) - len(line.lstrip()) for line in lines if line), default=0)
    return "\n".join(line[indent:] for line in lines)


def inline(text: str, placeholder: str, subquery: str) -> str:
    """``text`` with each line that is only ``placeholder`` replaced by ``subquery``,
    indented as the placeholder was."""
    pattern = re.compile(rf"^( *){re.escape(placeholder)}$", re.MULTILINE)
    return pattern.sub(lambda found: indent(subquery, found[1]), text)


def datasource_variable() -> builders.DatasourceVariable:
    return (
        builders.DatasourceVariable("datasource")
        .label("Data source")
        .type(PLUGIN)
        .current(model.VariableOption(text="Agent Ledger", value=DATASOURCE_UID))
    )


def database_variable() -> builders.QueryVariable:
    return (
        builders.QueryVariable("database")
        .label("Ledger database")
        .description("The ledger's database (AGENTLEDGER_DATABASE, agentledger by default).")
        .datasource(DATASOURCE)
        .query({"editorType": "sql", "rawSql": LEDGER_DATABASES_SQL})
        .refresh(model.VariableRefresh.ON_DASHBOARD_LOAD)
        .current(model.VariableOption(text=DEFAULT_DATABASE, value=DEFAULT_DATABASE))
    )


def session_link(title: str = "Open session ${__value.raw}") -> list[dict[str, object]]:
    """A data link from a cell holding a session id to that session's explorer."""
    return [
        {
            "title": title,
            "url": f"/d/{SESSION_DASHBOARD}/agentledger-session-explorer"
            "?var-session_id=${__value.raw}&var-datasource=${datasource}"
            "&var-database=${database}&${__url_time_range}",
        }
    ]


def time_series(
    title: str,
    query: str,
    description: str,
    *,
    unit: str | None = None,
    span: int = 12,
    height: int = 8,
    stacked: bool = False,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(Query(query, TIME_SERIES))
        .span(span)
        .height(height)
        .line_width(1)
        .fill_opacity(20 if stacked else 10)
        .show_points(common.VisibilityMode.NEVER)
        .legend(
            common_builders.VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
        )
    )
    if stacked:
        panel = panel.stacking(
            common_builders.StackingConfig().mode(common.StackingMode.NORMAL).group("A")
        )
    return panel.unit(unit) if unit else panel


def table_panel(
    title: str,
    query: str,
    description: str,
    *,
    session_columns: tuple[str, ...] = (),
    span: int = 24,
    height: int = 9,
) -> table.Panel:
    panel = (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(Query(query, TABLE))
        .span(span)
        .height(height)
        .show_header(True)
        .cell_height(common.TableCellHeight.SM)
    )
    for column in session_columns:
        panel = panel.override_by_name(
            column, [model.DynamicConfigValue(id_val="links", value=session_link())]
        )
    return panel


def stat_panel(
    title: str, query: str, description: str, *, unit: str | None = None, span: int = 6
) -> stat.Panel:
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(Query(query, TABLE))
        .span(span)
        .height(4)
        .graph_mode(common.BigValueGraphMode.NONE)
        .color_mode(common.BigValueColorMode.VALUE)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    return panel.unit(unit) if unit else panel


def ledger_dashboard(uid: str, title: str, description: str) -> builders.Dashboard:
    """A dashboard of the ledger: UTC (the ledger keeps UTC only), the last day, linked to
    the other ledger dashboards with the same variables and time."""
    return (
        builders.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .timezone("utc")
        .time("now-24h", "now")
        .refresh("1m")
        .editable()
        .link(
            builders.DashboardLink("Agent Ledger")
            .type(model.DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
        .with_variable(datasource_variable())
        .with_variable(database_variable())
    )
