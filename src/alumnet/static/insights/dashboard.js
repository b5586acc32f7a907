/*
 * The insights page's dashboard: the `dashboard { … }` query (the staff sections, with
 * fields docs/DASHBOARDS.md documents; tests/test_insights.py checks) and how each section
 * is drawn. Sets window.AlumnetDashboard = {query, render}; insights.js sends the query
 * and calls render with the answer.
 */
(function () {
  "use strict";

  var PALETTE = ["#2f6fde", "#e0793a", "#2a9d8f", "#c44569", "#8e6bd8", "#7a8799"];

  Chart.defaults.animation = false; // drawn at once: a dashboard, not a show
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function percent(value) {
    return value === null || value === undefined ? "–" : Math.round(value * 1000) / 10 + "%";
  }

  function number(value) {
    return value === null || value === undefined ? "–" : String(value);
  }

  // A drawing surface for one dashboard: what it made is destroyed before the next.
  function Board(root) {
    this.root = root;
    this.charts = [];
  }

  Board.prototype.section = function (title) {
    var section = el("section", "role-section");
    section.appendChild(el("h2", null, title));
    this.root.appendChild(section);
    return section;
  };

  Board.prototype.tiles = function (parent, items) {
    var box = el("div", "tiles");
    items.forEach(function (item) {
      var tile = el("div", "tile");
      tile.appendChild(el("span", "value", item.value));
      tile.appendChild(el("span", "label", item.label));
      box.appendChild(tile);
    });
    parent.appendChild(box);
  };

  Board.prototype.grid = function (parent) {
    var box = el("div", "charts");
    parent.appendChild(box);
    return box;
  };

  // One chart: `key` names it (data-chart) for scripts and tests; an empty series
  // shows a sentence instead of empty axes.
  Board.prototype.chart = function (parent, key, title, config, note) {
    var figure = el("figure", "chart");
    figure.appendChild(el("figcaption", null, title));
    var values = [];
    config.data.datasets.forEach(function (dataset, i) {
      if (!dataset.backgroundColor) {
        dataset.backgroundColor = config.type === "doughnut" ? PALETTE : PALETTE[i % PALETTE.length];
      }
      if (!dataset.borderColor && config.type === "line") dataset.borderColor = PALETTE[i % PALETTE.length];
      values = values.concat(dataset.data);
    });
    var drawable = values.some(function (v) {
      return v !== null && v !== undefined;
    });
    if (!drawable) {
      figure.appendChild(el("p", "empty", "No figures yet."));
    } else {
      var plot = el("div", "plot");
      if (config.options && config.options.indexAxis === "y") {
        // A bar per person: room for each name.
        plot.style.height = Math.max(240, config.data.labels.length * 22 + 60) + "px";
      }
      var canvas = el("canvas");
      canvas.dataset.chart = key;
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", title);
      plot.appendChild(canvas);
      figure.appendChild(plot);
      this.charts.push(new Chart(canvas, config));
    }
    if (note) figure.appendChild(el("p", "note", note));
    parent.appendChild(figure);
  };

  Board.prototype.table = function (parent, caption, headers, rows) {
    var table = el("table", "list");
    table.appendChild(el("caption", null, caption));
    var head = el("tr");
    headers.forEach(function (h) {
      head.appendChild(el("th", null, h));
    });
    table.appendChild(head);
    rows.forEach(function (row) {
      var tr = el("tr");
      row.forEach(function (cell) {
        tr.appendChild(el("td", null, cell));
      });
      table.appendChild(tr);
    });
    parent.appendChild(table);
  };

  // ---- the query ---------------------------------------------------------------------

  // The staff sections of `dashboard` (docs/DASHBOARDS.md), with their default arguments:
  // the last 28 days, trends by week. A section is null unless the viewer holds its role.
  var QUERY = [
    "query InsightsDashboard {",
    "  viewer { name twoFactor { enabled required } }",
    "  dashboard {",
    "    sections",
    "    admin {",
    "      range { from to }",
    "      usersByRole { label count }",
    "      usersByStatus { label count }",
    "      activityByDay { date activeUsers signIns }",
    "      jobsFailed { total byName { label count } }",
    "      imports { byStatus { label count } }",
    "      storage { files bytes byKind { kind files bytes } }",
    "    }",
    "    manager {",
    "      range { from to }",
    "      interval",
    "      missionCount",
    "      missions {",
    "        code title students banned unmentored attendanceRate submissionRate",
    "        acknowledgementRate atRisk openAppeals withheld",
    "        points { p25 median p75 }",
    "      }",
    "      attendanceTrend { label value }",
    "      atRiskByMission { label value }",
    "      acknowledgementByMission { label value }",
    "      mentorLoad { label value }",
    "      loadOver",
    "      mentorsOverLoad",
    "    }",
    "    mentor {",
    "      menteeCount",
    "      mentees {",
    "        studentName missionCode status",
    "        standing { points attendanceRate missingWork }",
    "        streak { presentDays absentDays }",
    "      }",
    "      missions {",
    "        code mentees students",
    "        menteesAverage { attendanceRate points }",
    "        missionAverage { attendanceRate points }",
    "      }",
    "      missingWorkCount",
    "      unansweredTicketCount",
    "    }",
    "    sre {",
    "      range { from to }",
    "      atRiskCount",
    "      atRiskByMission { label value }",
    "      calls { total yours byOutcome { outcome count } byDay { date value } }",
    "      followUps { overdue dueToday yoursOverdue yoursDueToday }",
    "      tickets { slaHours opened withinSla outsideSla withinSlaRate openByAge { label count } }",
    "    }",
    "  }",
    "}",
  ].join("\n");

  var STAFF_SECTIONS = ["ADMIN", "MANAGER", "MENTOR", "SRE"];
  var MENTORS_CHARTED = 20; // mentorLoad comes most loaded first

  var NOT_STAFF =
    "The insights page is for staff: it draws the dashboards of administrators, programme " +
    "managers, student relationship executives and mentors, and your roles have none of them.";
  var STUDENT_TOO = " Your own attendance, points and work are in the alumnet app.";
  var ENROL_FIRST =
    "Your role requires two-factor sign-in, which is not on for your account yet: turn it on " +
    "in the alumnet app, then sign in here again.";

  // ---- shaping figures for Chart.js ------------------------------------------------------

  function pct(value) {
    return value === null || value === undefined ? null : Math.round(value * 1000) / 10;
  }

  function labels(points) {
    return points.map(function (p) {
      return p.label !== undefined ? p.label : p.date;
    });
  }

  function values(points, scale) {
    return points.map(function (p) {
      return scale ? scale(p.value) : p.value;
    });
  }

  function sum(list, key) {
    return list.reduce(function (total, item) {
      return total + (item[key] || 0);
    }, 0);
  }

  function range(r) {
    return r ? r.from + " to " + r.to : "";
  }

  function percentAxis(horizontal) {
    var axis = { min: 0, max: 100, ticks: { callback: function (v) { return v + "%"; } } };
    return horizontal ? { x: axis } : { y: axis };
  }

  function countAxis(horizontal) {
    var axis = { beginAtZero: true, ticks: { precision: 0 } };
    return horizontal ? { x: axis } : { y: axis };
  }

  function bar(points, label, opts) {
    opts = opts || {};
    var horizontal = !!opts.horizontal;
    return {
      type: "bar",
      data: {
        labels: labels(points),
        datasets: [{ label: label, data: values(points, opts.percent ? pct : null) }],
      },
      options: {
        indexAxis: horizontal ? "y" : "x",
        scales: opts.percent ? percentAxis(horizontal) : countAxis(horizontal),
        plugins: { legend: { display: false } },
      },
    };
  }

  function counts(rows) {
    return rows.map(function (r) {
      return { label: r.label, value: r.count };
    });
  }

  function doughnut(points, label) {
    return {
      type: "doughnut",
      data: { labels: labels(points), datasets: [{ label: label, data: values(points) }] },
      options: { plugins: { legend: { position: "right" } } },
    };
  }

  // ---- the sections ----------------------------------------------------------------------

  function drawManager(board, m) {
    var section = board.section("Programme — " + range(m.range));
    var missions = m.missions;
    board.tiles(section, [
      { label: "missions", value: m.missionCount },
      { label: "active students", value: sum(missions, "students") },
      { label: "students at risk", value: sum(missions, "atRisk") },
      { label: "open appeals", value: sum(missions, "openAppeals") },
      { label: "students banned", value: sum(missions, "banned") },
      { label: "mentors over " + m.loadOver + " students", value: m.mentorsOverLoad },
    ]);
    var grid = board.grid(section);
    board.chart(grid, "manager-attendance-trend", "Attendance trend (by " + m.interval.toLowerCase() + ")", {
      type: "line",
      data: {
        labels: labels(m.attendanceTrend),
        datasets: [{ label: "attendance", data: values(m.attendanceTrend, pct), spanGaps: true }],
      },
      options: { scales: percentAxis(false), plugins: { legend: { display: false } } },
    });
    board.chart(grid, "manager-at-risk", "Students at risk, by mission", bar(m.atRiskByMission, "at risk"));
    board.chart(
      grid,
      "manager-acknowledgement",
      "Notice acknowledgement rate, by mission",
      bar(m.acknowledgementByMission, "acknowledged", { percent: true })
    );
    var loads = m.mentorLoad.slice(0, MENTORS_CHARTED);
    board.chart(
      grid,
      "manager-mentor-load",
      m.mentorLoad.length > loads.length
        ? "Mentor load: the " + loads.length + " most loaded of " + m.mentorLoad.length + " mentors"
        : "Mentor load (students per mentor)",
      bar(loads, "students", { horizontal: true }),
      (m.mentorsOverLoad === 0 ? "No mentor carries" : m.mentorsOverLoad === 1 ? "One mentor carries" : m.mentorsOverLoad + " mentors carry") +
        " more than " + m.loadOver + " students."
    );
    var codes = missions.map(function (x) {
      return x.code;
    });
    board.chart(grid, "manager-rates", "Attendance and submission rate, by mission", {
      type: "bar",
      data: {
        labels: codes,
        datasets: [
          { label: "attendance", data: missions.map(function (x) { return pct(x.attendanceRate); }) },
          { label: "submissions", data: missions.map(function (x) { return pct(x.submissionRate); }) },
        ],
      },
      options: { scales: percentAxis(false) },
    });
    board.chart(grid, "manager-points", "Points (quartiles), by mission", {
      type: "bar",
      data: {
        labels: codes,
        datasets: ["p25", "median", "p75"].map(function (key) {
          return {
            label: key === "median" ? "median" : key === "p25" ? "25th percentile" : "75th percentile",
            data: missions.map(function (x) {
              return x.points ? x.points[key] : null;
            }),
          };
        }),
      },
      options: { scales: countAxis(false) },
    });
    var withheld = missions.some(function (x) {
      return x.withheld;
    });
    board.table(
      section,
      "Missions",
      ["mission", "title", "students", "attendance", "submissions", "acknowledged", "at risk", "unmentored"],
      missions.map(function (x) {
        return [
          x.code, x.title, x.students, percent(x.attendanceRate), percent(x.submissionRate),
          percent(x.acknowledgementRate), x.atRisk, x.unmentored,
        ];
      })
    );
    if (withheld) {
      section.appendChild(
        el("p", "note", "Rates and points of missions with fewer than five students are withheld (–).")
      );
    }
  }

  function drawAdmin(board, a) {
    var section = board.section("Administration — " + range(a.range));
    board.tiles(section, [
      { label: "accounts", value: sum(a.usersByStatus, "count") },
      { label: "failed jobs", value: a.jobsFailed.total },
      { label: "stored files", value: a.storage.files },
      { label: "storage", value: (a.storage.bytes / 1048576).toFixed(1) + " MB" },
    ]);
    var grid = board.grid(section);
    board.chart(grid, "admin-users-by-role", "Accounts by role", bar(counts(a.usersByRole), "accounts"));
    board.chart(grid, "admin-users-by-status", "Accounts by status", doughnut(counts(a.usersByStatus), "accounts"));
    board.chart(grid, "admin-activity", "Active people and sign-ins, by day", {
      type: "line",
      data: {
        labels: a.activityByDay.map(function (d) { return d.date; }),
        datasets: [
          { label: "active people", data: a.activityByDay.map(function (d) { return d.activeUsers; }) },
          { label: "sign-ins", data: a.activityByDay.map(function (d) { return d.signIns; }) },
        ],
      },
      options: { scales: countAxis(false) },
    }, "Active people are a floor: alumnet keeps no log of every request.");
    board.chart(grid, "admin-jobs-failed", "Failed jobs, by name", bar(counts(a.jobsFailed.byName), "failed"));
    board.chart(grid, "admin-imports", "Imports, by status", bar(counts(a.imports.byStatus), "imports"));
    board.chart(
      grid,
      "admin-storage",
      "Storage by kind (MB)",
      bar(
        a.storage.byKind.map(function (k) {
          return { label: k.kind, value: Math.round((k.bytes / 1048576) * 100) / 100 };
        }),
        "MB"
      )
    );
  }

  function drawSre(board, s) {
    var section = board.section("Outreach — " + range(s.range));
    board.tiles(section, [
      { label: "students at risk", value: s.atRiskCount },
      { label: "calls (yours)", value: s.calls.total + " (" + s.calls.yours + ")" },
      { label: "follow-ups overdue (yours)", value: s.followUps.overdue + " (" + s.followUps.yoursOverdue + ")" },
      { label: "follow-ups due today (yours)", value: s.followUps.dueToday + " (" + s.followUps.yoursDueToday + ")" },
      {
        label: "tickets answered within " + s.tickets.slaHours + " h (" + s.tickets.withinSla + " of " +
          (s.tickets.withinSla + s.tickets.outsideSla) + ", " + s.tickets.opened + " opened)",
        value: percent(s.tickets.withinSlaRate),
      },
    ]);
    var grid = board.grid(section);
    board.chart(grid, "sre-at-risk", "Students at risk, by mission", bar(s.atRiskByMission, "at risk"));
    board.chart(
      grid,
      "sre-calls-by-outcome",
      "Calls, by outcome",
      doughnut(
        s.calls.byOutcome.map(function (o) {
          return { label: o.outcome.toLowerCase().replace(/_/g, " "), value: o.count };
        }),
        "calls"
      )
    );
    board.chart(grid, "sre-calls-by-day", "Calls, by day", bar(s.calls.byDay, "calls"));
    board.chart(grid, "sre-tickets-by-age", "Open tickets, by age", bar(counts(s.tickets.openByAge), "tickets"));
  }

  function drawMentor(board, m) {
    var section = board.section("Your mentees");
    board.tiles(section, [
      { label: "mentees", value: m.menteeCount },
      { label: "pieces of work missing", value: m.missingWorkCount },
      { label: "tickets waiting for you", value: m.unansweredTicketCount },
    ]);
    var grid = board.grid(section);
    var names = m.mentees.map(function (x) {
      return x.studentName + " (" + x.missionCode + ")";
    });
    board.chart(grid, "mentor-attendance", "Your mentees' attendance", {
      type: "bar",
      data: {
        labels: names,
        datasets: [{
          label: "attendance",
          data: m.mentees.map(function (x) { return x.standing ? pct(x.standing.attendanceRate) : null; }),
        }],
      },
      options: { indexAxis: "y", scales: percentAxis(true), plugins: { legend: { display: false } } },
    });
    board.chart(grid, "mentor-points", "Your mentees' points", {
      type: "bar",
      data: {
        labels: names,
        datasets: [{
          label: "points",
          data: m.mentees.map(function (x) { return x.standing ? x.standing.points : null; }),
        }],
      },
      options: { indexAxis: "y", scales: countAxis(true), plugins: { legend: { display: false } } },
    });
    var hidden = m.missions.some(function (x) {
      return !x.missionAverage;
    });
    var withheld = hidden ? "A mission's average is withheld where fewer than five other students would be in it." : null;
    var missionLabels = m.missions.map(function (x) {
      return x.code + " (" + x.mentees + " of " + x.students + ")";
    });
    var versus = function (key, scale) {
      return [
        { label: "your mentees", data: m.missions.map(function (x) { return scale(x.menteesAverage[key]); }) },
        {
          label: "the whole mission",
          data: m.missions.map(function (x) { return x.missionAverage ? scale(x.missionAverage[key]) : null; }),
        },
      ];
    };
    var same = function (v) {
      return v === undefined ? null : v;
    };
    board.chart(grid, "mentor-missions", "Attendance: your mentees and their mission", {
      type: "bar",
      data: { labels: missionLabels, datasets: versus("attendanceRate", pct) },
      options: { scales: percentAxis(false) },
    }, withheld);
    board.chart(grid, "mentor-missions-points", "Mean points: your mentees and their mission", {
      type: "bar",
      data: { labels: missionLabels, datasets: versus("points", same) },
      options: { scales: countAxis(false) },
    }, withheld);
    board.table(
      section,
      "Mentees",
      ["student", "mission", "status", "points", "attendance", "missing work", "days present in a row", "days absent in a row"],
      m.mentees.map(function (x) {
        var s = x.standing || {};
        return [
          x.studentName, x.missionCode, x.status.toLowerCase(), number(s.points),
          percent(s.attendanceRate), number(s.missingWork), x.streak.presentDays, x.streak.absentDays,
        ];
      })
    );
  }

  // ---- render ----------------------------------------------------------------------------

  function render(body, root) {
    var data = (body && body.data) || {};
    var viewer = data.viewer || {};
    var name = viewer.name || "";
    var dashboard = data.dashboard;
    if (!dashboard) {
      var first = body && body.errors && body.errors[0];
      return {
        name: name,
        message: (first && first.message) || "Your dashboard could not be read; try again later.",
        charts: [],
      };
    }
    var staff = dashboard.sections.filter(function (s) {
      return STAFF_SECTIONS.indexOf(s) >= 0;
    });
    if (!staff.length) {
      // A role that needs two-factor sign-in is withheld until its holder enrols.
      var unenrolled = viewer.twoFactor && viewer.twoFactor.required && !viewer.twoFactor.enabled;
      var message = unenrolled ? ENROL_FIRST : NOT_STAFF;
      if (!unenrolled && dashboard.sections.indexOf("STUDENT") >= 0) message += STUDENT_TOO;
      return { name: name, message: message, charts: [] };
    }
    var board = new Board(root);
    if (dashboard.manager) drawManager(board, dashboard.manager);
    if (dashboard.sre) drawSre(board, dashboard.sre);
    if (dashboard.mentor) drawMentor(board, dashboard.mentor);
    if (dashboard.admin) drawAdmin(board, dashboard.admin);
    return { name: name, charts: board.charts };
  }

  window.AlumnetDashboard = { query: QUERY, render: render };
})();
