// SPDX-License-Identifier: AGPL-3.0-or-later
// The calendar page. FullCalendar (vendored) asks the server for each range it shows;
// a dropped post is posted to the server, which checks the move (rules, permissions,
// the past). When the server refuses, the post goes back where it was and the server's
// reason is shown. No inline script: the page passes its settings as data attributes.
(function () {
  "use strict";

  var VIEW_KEYS = { dayGridMonth: "month", timeGridWeek: "week", listWeek: "list" };

  function toast(message, kind) {
    document.dispatchEvent(new CustomEvent("sd:toast", { detail: { message: message, kind: kind } }));
  }

  // The server's messages are lower-case clauses ("… is in the past; choose a later time").
  function sentence(text) {
    text = (text || "").trim();
    if (!text) return text;
    text = text.charAt(0).toUpperCase() + text.slice(1);
    return /[.!?]$/.test(text) ? text : text + ".";
  }

  function paramsOf(form) {
    var params = new URLSearchParams();
    if (!form) return params;
    new FormData(form).forEach(function (value, key) {
      if (typeof value === "string" && value) params.append(key, value);
    });
    return params;
  }

  function chip(channel) {
    var item = document.createElement("span");
    item.className = "sd-chip net-" + channel.network + " sd-chip-" + channel.state;
    item.textContent = channel.initials;
    item.title = channel.networkName + " " + channel.handle + " (" + channel.state + ")";
    return item;
  }

  // What a post looks like in every view: status dot, channel initials, time, first line.
  function renderEvent(arg) {
    var props = arg.event.extendedProps;
    var list = arg.view.type === "listWeek";
    var channels = props.channels || [];
    var box = document.createElement("span");
    var month = arg.view.type === "dayGridMonth";
    box.className = "sd-event" + (list ? " sd-event-in-list" : "") + (month ? " sd-event-in-month" : "");
    if (month) {
      var dot = document.createElement("span");
      dot.className = "sd-status-dot";
      box.appendChild(dot);
    }
    var chips = document.createElement("span");
    chips.className = "sd-chips";
    chips.setAttribute("aria-hidden", "true");
    var room = list ? 4 : 2;
    channels.slice(0, channels.length > room ? room - 1 : room).forEach(function (channel) {
      chips.appendChild(chip(channel));
    });
    if (channels.length > room) {
      var more = document.createElement("span");
      more.className = "sd-chip sd-chip-more";
      more.textContent = "+" + (channels.length - room + 1);
      chips.appendChild(more);
    }
    if (arg.timeText) {
      var time = document.createElement("span");
      time.className = "sd-event-time";
      time.textContent = arg.timeText;
      box.appendChild(time);
    }
    box.appendChild(chips);
    var title = document.createElement("span");
    title.className = "sd-event-title";
    title.textContent = arg.event.title;
    box.appendChild(title);
    if (list) {
      var status = document.createElement("span");
      status.className = "badge sd-badge-" + props.status;
      status.textContent = props.statusLabel;
      box.appendChild(status);
    }
    return { domNodes: [box] };
  }

  // Status colours live in calendar.css (--status-<name>); events take them from there.
  var colours = {};
  function statusColour(status) {
    if (!(status in colours)) {
      colours[status] = getComputedStyle(document.documentElement)
        .getPropertyValue("--status-" + status).trim();
    }
    return colours[status] || undefined;
  }

  // A full description for screen readers and the tooltip: the cell shows little.
  function describe(arg) {
    var props = arg.event.extendedProps;
    var channels = (props.channels || []).map(function (c) {
      return c.networkName + " " + c.handle;
    });
    var text = arg.event.title + " — " + props.statusLabel + ", " + (arg.timeText || "") +
      (channels.length ? ", to " + channels.join(", ") : "");
    arg.el.setAttribute("aria-label", text);
    arg.el.title = text;
  }

  function start() {
    var el = document.getElementById("calendar");
    if (!el || !window.FullCalendar) return;
    var data = el.dataset;
    var form = document.getElementById("calendar-filters");
    var exportLink = document.getElementById("calendar-export");
    var clearLink = document.getElementById("calendar-clear");
    var phone = window.matchMedia("(max-width: 640px)");
    var canMove = data.canMove === "true";
    var headers = { Accept: "application/json" };
    headers[data.csrfHeader] = data.csrfToken;
    var shown = null;

    // The server sends each channel once and posts that refer to it by index.
    function toEvents(payload) {
      var channels = payload.channels || [];
      var statuses = payload.statuses || {};
      return (payload.events || []).map(function (item) {
        return {
          id: item.id,
          title: item.title,
          start: item.start,
          editable: item.editable,
          durationEditable: false,
          url: data.postUrl.replace("__id__", encodeURIComponent(item.id)),
          classNames: ["sd-event-" + item.status],
          color: statusColour(item.status),
          extendedProps: {
            status: item.status,
            statusLabel: statuses[item.status] || item.status,
            author: item.author,
            labels: item.labels || [],
            recurring: Boolean(item.recurring),
            channels: item.channels.map(function (ref) {
              return Object.assign({ state: ref[1] }, channels[ref[0]]);
            }),
          },
        };
      });
    }

    function loadEvents(info, success, failure) {
      var params = paramsOf(form);
      params.set("start", info.startStr);
      params.set("end", info.endStr);
      fetch(data.eventsUrl + "?" + params.toString(), {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      }).then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error((body.error && body.error.message) || response.statusText);
          return toEvents(body);
        });
      }).then(success, function (error) {
        toast(sentence("the posts could not be loaded: " + error.message), "error");
        failure(error);
      });
    }

    // Keep the address, the CSV link and "Clear filters" in step with what is shown.
    function sync() {
      var filters = paramsOf(form);
      if (clearLink) clearLink.hidden = !filters.toString();
      if (!shown) return;
      var range = new URLSearchParams(filters);
      range.set("start", shown.startStr);
      range.set("end", shown.endStr);
      if (exportLink) exportLink.href = data.exportUrl + "?" + range.toString();
      var address = new URLSearchParams(filters);
      address.set("view", VIEW_KEYS[shown.view.type] || "month");
      address.set("date", calendar.formatIso(shown.view.currentStart, true).slice(0, 10));
      window.history.replaceState(null, "", data.pageUrl + "?" + address.toString());
    }

    function onDrop(info) {
      var body = new URLSearchParams({ at: info.event.startStr });
      var url = data.rescheduleUrl.replace("__id__", encodeURIComponent(info.event.id));
      var postHeaders = Object.assign({ "Content-Type": "application/x-www-form-urlencoded" }, headers);
      el.setAttribute("aria-busy", "true");
      fetch(url, { method: "POST", headers: postHeaders, body: body, credentials: "same-origin" })
        .then(function (response) {
          return response.json().catch(function () { return {}; }).then(function (payload) {
            return { ok: response.ok, status: response.status, payload: payload };
          });
        })
        .then(function (result) {
          if (!result.ok) {
            info.revert();
            var error = result.payload.error || {};
            toast(sentence(error.message) || "The post could not be moved (" + result.status + ").", "error");
            return;
          }
          // The server may have adjusted the time (a moment in the past becomes "now").
          var saved = toEvents(result.payload)[0];
          if (saved) {
            info.event.setStart(saved.start);
            Object.keys(saved.extendedProps).forEach(function (key) {
              info.event.setExtendedProp(key, saved.extendedProps[key]);
            });
          }
          el.dataset.lastMove = info.event.id;
          toast(result.payload.message || "Moved.", "success");
        }, function () {
          info.revert();
          toast("The server did not answer, so the post was not moved. Check your connection.", "error");
        })
        .finally(function () { el.removeAttribute("aria-busy"); });
    }

    var calendar = new window.FullCalendar.Calendar(el, {
      timeZone: data.timezone || "local",
      initialView: data.initialView || (phone.matches ? "listWeek" : "dayGridMonth"),
      initialDate: data.initialDate || undefined,
      headerToolbar: {
        start: "prev,next today",
        center: "title",
        end: "dayGridMonth,timeGridWeek,listWeek",
      },
      firstDay: 1,
      height: "auto",
      dayMaxEvents: 3,
      nowIndicator: true,
      navLinks: true,
      editable: canMove,
      eventDurationEditable: false,
      defaultTimedEventDuration: "00:30",
      // A post at 23:50 is drawn on its own day, not stretched into the next.
      nextDayThreshold: "06:00",
      snapDuration: "00:15",
      scrollTime: "08:00",
      eventTimeFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
      slotHeaderFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
      events: loadEvents,
      eventContent: renderEvent,
      eventDidMount: describe,
      eventDrop: onDrop,
      datesSet: function (info) {
        shown = info;
        sync();
      },
    });
    calendar.render();
    el.classList.add("is-ready");

    if (form) {
      form.addEventListener("change", function () {
        calendar.refetchEvents();
        sync();
      });
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        calendar.refetchEvents();
        sync();
      });
    }
    if (clearLink) {
      clearLink.addEventListener("click", function (event) {
        event.preventDefault();
        form.reset();
        Array.prototype.forEach.call(form.querySelectorAll("select"), function (select) {
          select.value = "";
        });
        calendar.refetchEvents();
        sync();
      });
    }
    window.socialdeskCalendar = calendar;
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
