"""A report's table as files: an Excel workbook whose charts are Excel's own (drawn by the
spreadsheet over the table's cells, so they follow any change a reader makes), and a CSV
of the same rows.

The workbook has a "Data" sheet (a header row of labels, then the rows, typed: numbers,
percentages and dates stay numbers and dates), a "Charts" sheet first when the table has
charts and rows, and an "About" sheet with the title and the notes. Text that a
spreadsheet would run as a formula is neutralised in both files (``exports.neutralise``).
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.chart.data_source import AxDataSource, StrRef
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from alumnet.domain.analytics.common import Chart, Column, Table
from alumnet.domain.data.exports import neutralise
from alumnet.domain.data.tabular import plain

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv"

DATA_SHEET = "Data"
CHARTS_SHEET = "Charts"
ABOUT_SHEET = "About"
# Where each chart sits on the Charts sheet: one under the other, this many rows apart.
CHART_ROWS = 20
CHART_WIDTH_CM = 24
CHART_HEIGHT_CM = 10

NUMBER_FORMATS = {
    "integer": "#,##0",
    "decimal": "#,##0.00",
    "percent": "0.0%",
    "date": "yyyy-mm-dd",
}
BOLD = Font(bold=True)


def cell_value(column: Column, value: Any) -> Any:
    """A value as the workbook holds it: numbers and dates typed, text neutralised.
    Percentages are fractions (0.5 is 50%), shown with Excel's percent format."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)  # Excel has no time zones: times are UTC
    if isinstance(value, date | bool | int | float):
        return value
    if isinstance(value, Decimal):
        return float(value)
    return neutralise(str(value))


def xlsx(table: Table, *, about: list[str] | None = None) -> bytes:
    """The table as an Excel workbook with its charts; ``about`` adds lines to the About
    sheet (the period, when it was made)."""
    names = {c.name for c in table.columns}
    for chart in table.charts:
        unknown = [n for n in (chart.x, *chart.series) if n not in names]
        if unknown:
            raise ValueError(f"chart {chart.title!r} names no column {', '.join(unknown)}")
    book = Workbook(write_only=True)
    book.properties.title = table.title[:255]
    book.properties.creator = "alumnet"
    data = book.create_sheet(DATA_SHEET)
    _write_data(data, table)
    if table.charts and table.rows:
        charts = book.create_sheet(CHARTS_SHEET, 0)
        for position, chart in enumerate(table.charts):
            drawn = native_chart(data, table, chart)
            charts.add_chart(drawn, f"A{1 + position * CHART_ROWS}")
    info: Any = book.create_sheet(ABOUT_SHEET)
    info.column_dimensions["A"].width = 100
    title = WriteOnlyCell(info, neutralise(table.title))
    title.font = BOLD
    info.append([title])
    for line in [*(about or []), *table.notes]:
        info.append([neutralise(line)])
    if table.charts and not table.rows:
        info.append(["No rows in this period: the charts are left out."])
    output = io.BytesIO()
    book.save(output)
    return output.getvalue()


def _write_data(sheet: Any, table: Table) -> None:
    # (a WriteOnlyWorksheet: its stubs lack the dimensions and filter it has)
    sheet.freeze_panes = "A2"
    for index, column in enumerate(table.columns, start=1):
        width = max(10, min(50, len(column.label) + 2))
        sheet.column_dimensions[get_column_letter(index)].width = width
    header = []
    for column in table.columns:
        cell = WriteOnlyCell(sheet, neutralise(column.label))
        cell.font = BOLD
        header.append(cell)
    sheet.append(header)
    formats = [NUMBER_FORMATS.get(c.kind) for c in table.columns]
    for row in table.rows:
        cells: list[Any] = []
        for column, number_format, value in zip(table.columns, formats, row, strict=True):
            written = cell_value(column, value)
            if number_format is not None and written is not None and not isinstance(written, str):
                cell = WriteOnlyCell(sheet, written)
                cell.number_format = number_format
                cells.append(cell)
            else:
                cells.append(written)
        sheet.append(cells)
    if table.columns:
        last = get_column_letter(len(table.columns))
        sheet.auto_filter.ref = f"A1:{last}{len(table.rows) + 1}"


def native_chart(data: WriteOnlyWorksheet, table: Table, chart: Chart) -> LineChart | BarChart:
    """An Excel chart over the Data sheet's cells: the ``x`` column along the axis, one
    series per column named in ``series`` (its header cell names it)."""
    position = {c.name: i + 1 for i, c in enumerate(table.columns)}
    labels = {c.name: c.label for c in table.columns}
    last = len(table.rows) + 1
    drawn: LineChart | BarChart
    if chart.kind == "bar":
        drawn = BarChart()
        drawn.type = "col"
        drawn.grouping = "clustered"
    else:
        drawn = LineChart()
    drawn.title = neutralise(chart.title)
    drawn.width, drawn.height = CHART_WIDTH_CM, CHART_HEIGHT_CM
    drawn.x_axis.title = neutralise(labels[chart.x])
    if len(chart.series) == 1:
        drawn.y_axis.title = neutralise(labels[chart.series[0]])
    kinds = {table.columns[position[n] - 1].kind for n in chart.series}
    if kinds == {"percent"}:
        drawn.y_axis.number_format = NUMBER_FORMATS["percent"]
    # openpyxl 3.1 marks axes deleted unless told: Excel would draw no axis labels.
    drawn.x_axis.delete = False
    drawn.y_axis.delete = False
    for name in chart.series:
        column = position[name]
        drawn.add_data(
            Reference(data, min_col=column, max_col=column, min_row=1, max_row=last),
            titles_from_data=True,
        )
    axis = position[chart.x]
    categories = Reference(data, min_col=axis, max_col=axis, min_row=2, max_row=last)
    drawn.set_categories(categories)
    if table.columns[axis - 1].kind == "text":
        # Labels, not numbers: a text reference, so that spreadsheets read them as such.
        for series in drawn.series:
            series.cat = AxDataSource(strRef=StrRef(f=str(categories)))
    return drawn


def csv_bytes(table: Table) -> bytes:
    """The table's rows as CSV (UTF-8): a header of the columns' names, then the same rows
    as the workbook's (dates as ISO 8601, text neutralised)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([c.name for c in table.columns])
    for row in table.rows:
        writer.writerow(["" if v is None else neutralise(plain(v)) for v in row])
    return buffer.getvalue().encode("utf-8")
