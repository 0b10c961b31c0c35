// rnnlab report: the lab. Plain JavaScript, no library, no network; the data is the JSON in #lab-data
// (written by rnnlab/report/lab_page.py). State: {model, t, k, step, part}, kept in the URL hash
// (#model=NAME&t=T&k=K&step=S&part=c), so a link reproduces a view.
(function () {
  'use strict';
  var el = document.getElementById('lab-data');
  if (!el) { return; }
  var LAB = JSON.parse(el.textContent);
  var SVG = 'http://www.w3.org/2000/svg';
  var LO = LAB.scale.lo, HI = LAB.scale.hi;          // fixed decades, the same for every model
  var NEG = -32768;                                   // int16 code of an exact zero (log10 = -inf)
  var st = {model: null, t: null, k: null, step: null, part: 'h', pinned: false};

  // -- data ------------------------------------------------------------------------------------------
  function decode(b64) {                              // little-endian int16, 0.01 decades
    var bin = atob(b64), n = bin.length >> 1, out = new Int16Array(n);
    for (var i = 0; i < n; i++) {
      var v = bin.charCodeAt(2 * i) | (bin.charCodeAt(2 * i + 1) << 8);
      out[i] = v >= 32768 ? v - 65536 : v;
    }
    return out;
  }
  function prepare(f) {                               // row offsets: row t covers s = segStart(t) .. t
    f.segOf = new Int32Array(f.steps); f.off = new Int32Array(f.steps + 1);
    var seg = 0;
    for (var t = 0; t < f.steps; t++) {
      while (seg + 1 < f.segments.length && f.segments[seg + 1] <= t) { seg++; }
      f.segOf[t] = f.segments[seg];
      f.off[t + 1] = f.off[t] + (t - f.segments[seg] + 1);
    }
    f.rows = {};
    f.parts.forEach(function (p) { f.rows[p] = decode(f.g[p]); });
    f.segLen = 0;                                     // the longest segment: the reach's distance axis
    f.segments.forEach(function (a, i) {
      f.segLen = Math.max(f.segLen, (i + 1 < f.segments.length ? f.segments[i + 1] : f.steps) - a);
    });
    f.cumMass = [0];
    var total = 0;
    f.mass_by_lag.forEach(function (m) { total += m; f.cumMass.push(total); });
  }
  LAB.models.forEach(function (m) { m.frames.forEach(prepare); });

  function log10g(f, part, t, s) {                    // log10 ||dL_t/d part_s||; null when s > t
    if (s > t) { return null; }
    if (s < f.segOf[t]) { return -Infinity; }          // another segment: a fresh state, exactly zero
    var v = f.rows[part][f.off[t] + s - f.segOf[t]];
    return v === NEG ? -Infinity : v / 100;
  }
  function num(v, digits) { return v === null ? 'not finite' : v.toFixed(digits); }
  function fmt(v) { return v === -Infinity ? '-Infinity' : v.toFixed(2); }
  function frameOf(m) {                               // the snapshot nearest to st.step (default: final)
    if (st.step === null) { return m.frames[m.frames.length - 1]; }
    var best = m.frames[0];
    m.frames.forEach(function (f) { if (Math.abs(f.step - st.step) < Math.abs(best.step - st.step)) { best = f; } });
    return best;
  }
  function partOf(f) { return f.parts.indexOf(st.part) >= 0 ? st.part : 'h'; }

  // -- colour: a sequential scale over the fixed decades ---------------------------------------------
  var STOPS = [[247, 251, 255], [198, 219, 239], [107, 174, 214], [33, 113, 181], [8, 48, 107]];
  function colour(v) {
    var x = (Math.max(LO, Math.min(HI, v)) - LO) / (HI - LO), p = x * (STOPS.length - 1);
    var i = Math.min(STOPS.length - 2, Math.floor(p)), w = p - i, c = [0, 1, 2].map(function (j) {
      return Math.round(STOPS[i][j] * (1 - w) + STOPS[i + 1][j] * w);
    });
    return 'rgb(' + c.join(',') + ')';
  }

  // -- the hash ----------------------------------------------------------------------------------------
  function readHash() {
    var h = {};
    location.hash.replace(/^#/, '').split('&').forEach(function (kv) {
      var i = kv.indexOf('=');
      if (i > 0) { h[decodeURIComponent(kv.slice(0, i))] = decodeURIComponent(kv.slice(i + 1)); }
    });
    var int = function (v) { var n = parseInt(v, 10); return isNaN(n) ? null : n; };
    st.model = h.model !== undefined ? h.model : null;
    st.t = int(h.t); st.k = int(h.k); st.step = int(h.step);
    st.part = h.part === 'c' ? 'c' : 'h';
    st.pinned = st.t !== null;
  }
  function writeHash() {
    var kv = [];
    if (st.model !== null) { kv.push('model=' + encodeURIComponent(st.model)); }
    if (st.pinned && st.t !== null) { kv.push('t=' + st.t); }
    if (st.k !== null) { kv.push('k=' + st.k); }
    if (st.step !== null) { kv.push('step=' + st.step); }
    if (st.part === 'c') { kv.push('part=c'); }
    history.replaceState(null, '', kv.length ? '#' + kv.join('&') : location.pathname + location.search);
  }

  // -- building the panels -----------------------------------------------------------------------------
  function node(tag, attrs, parent, text) {
    var n = tag.charAt(0) === 's' && /^svg:/.test(tag) ? document.createElementNS(SVG, tag.slice(4))
      : document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (a) { n.setAttribute(a, attrs[a]); });
    if (text !== undefined) { n.textContent = text; }
    if (parent) { parent.appendChild(n); }
    return n;
  }
  var root = document.getElementById('lab');
  var panels = LAB.models.map(function (m, index) {
    var sec = node('section', {'class': 'lab-model', 'data-model': m.name}, document.getElementById('lab-models'));
    node('h3', {}, sec, m.name + ' (' + m.cell + ')');
    var info = node('p', {'class': 'lab-info'}, sec);
    var sent = node('div', {'class': 'sent', 'data-model': m.name, 'tabindex': '0'}, sec);
    var reach = node('svg:svg', {'class': 'reach', 'viewBox': '0 0 520 200', 'data-model': m.name}, sec);
    var reachNote = node('p', {'class': 'reach-note'}, sec);
    var stats = node('p', {'class': 'lab-stats'}, sec);
    sent.addEventListener('mouseover', function (e) {
      var tok = e.target.closest('.tok');
      if (tok && !st.pinned) { st.t = +tok.getAttribute('data-t'); st.model = m.name; update(); }
    });
    sent.addEventListener('mouseleave', function () { if (!st.pinned) { st.t = null; update(); } });
    sent.addEventListener('click', function (e) {
      var tok = e.target.closest('.tok');
      if (!tok) { return; }
      var t = +tok.getAttribute('data-t');
      if (st.pinned && st.t === t && st.model === m.name) { st.pinned = false; } else { st.pinned = true; st.t = t; }
      st.model = m.name;
      writeHash(); update();
    });
    return {m: m, index: index, sec: sec, info: info, sent: sent, reach: reach, reachNote: reachNote, stats: stats, frame: null,
            toks: []};
  });

  function buildTokens(p, f) {
    p.sent.textContent = '';
    p.toks = f.words.map(function (w, t) {
      if (t > 0 && f.segments.indexOf(t) >= 0) { node('span', {'class': 'segbreak'}, p.sent, '\u2016'); }
      var s = node('span', {'class': 'tok', 'data-model': p.m.name, 'data-t': String(t),
                            'title': 't=' + t + ': reads \u201c' + w + '\u201d, predicts \u201c' + f.targets[t] +
                                     '\u201d (loss ' + num(f.loss_by_t[t], 2) + ')'}, p.sent, w);
      p.sent.appendChild(document.createTextNode(' '));
      return s;
    });
    var vl = p.m.valid_loss === null ? 'unknown' : p.m.valid_loss.toFixed(3);
    p.info.innerHTML = '';
    node('span', {}, p.info, p.m.text + ' \u2014 ' + f.label + '. Loss on this text: ');
    node('b', {'class': 'probe-loss'}, p.info, num(f.loss, 3));
    node('span', {}, p.info, ' nats/token (validation loss ' + vl + ').');
    p.frame = f;
  }

  // the reach panel: x = d (steps back), y = log10 of the norm, fixed decades
  var RX0 = 44, RX1 = 510, RY0 = 10, RY1 = 170, YLO = -9, YHI = 3;
  function rx(d, D) { return RX0 + (RX1 - RX0) * d / Math.max(D, 1); }
  function ry(v) { return RY1 - (RY1 - RY0) * (Math.max(YLO - 5, Math.min(YHI + 5, v)) - YLO) / (YHI - YLO); }
  function path(pts, D) {
    return pts.filter(function (q) { return isFinite(q[1]); }).map(function (q, i) {
      return (i ? 'L' : 'M') + rx(q[0], D).toFixed(1) + ',' + ry(q[1]).toFixed(1);
    }).join('');
  }
  function memoryLength(r) {                           // first measured d with norm < 1e-3 of its d = 0 value
    for (var i = 0; i < r.d.length; i++) {
      if (r.norm[i] !== null && r.norm[i] < 1e-3 * r.norm[0]) { return r.d[i]; }
    }
    return null;
  }
  function drawReach(p, f, t) {
    var svg = p.reach, D = f.segLen;
    svg.textContent = '';
    var clip = node('svg:clipPath', {'id': 'clip-' + p.index}, svg);   // curves leave the plot at its edges
    node('svg:rect', {'x': RX0, 'y': RY0, 'width': RX1 - RX0, 'height': RY1 - RY0}, clip);
    var curve = function (pts, cls) {
      return node('svg:path', {'d': path(pts, D), 'class': cls, 'clip-path': 'url(#clip-' + p.index + ')'}, svg);
    };
    for (var y = YLO; y <= YHI; y += 3) {
      node('svg:line', {'x1': RX0, 'x2': RX1, 'y1': ry(y), 'y2': ry(y), 'class': 'grid'}, svg);
      node('svg:text', {'x': RX0 - 4, 'y': ry(y) + 4, 'class': 'ylab'}, svg, '1e' + y);
    }
    node('svg:line', {'x1': RX0, 'x2': RX1, 'y1': ry(-3), 'y2': ry(-3), 'class': 'thresh'}, svg);
    node('svg:text', {'x': RX0, 'y': RY1 + 24, 'class': 'xlab'}, svg, 'distance d (steps back), 0 .. ' + D);
    svg.removeAttribute('data-t'); svg.removeAttribute('data-memory');
    if (t === null) {
      node('svg:text', {'x': 260, 'y': 90, 'class': 'hint'}, svg, 'choose a token to see how far its gradient reaches');
      p.reachNote.textContent = '';
      return;
    }
    var s0 = f.segOf[t];
    if (st.k !== null && st.k < t - s0) {
      node('svg:line', {'x1': rx(st.k, D), 'x2': rx(st.k, D), 'y1': RY0, 'y2': RY1, 'class': 'kline'}, svg);
    }
    if (f.bound_base !== null) {
      var lb = Math.log10(f.bound_base), bp = [];
      for (var d = 0; d <= t - s0 + 1; d++) { bp.push([d, d * lb]); }
      curve(bp, 'bound');
    }
    var part = partOf(f), g0 = log10g(f, 'h', t, t), gp = [];
    for (var d2 = 0; d2 <= t - s0; d2++) { gp.push([d2, log10g(f, part, t, t - d2) - g0]); }
    curve(gp, 'gradrel');
    var r = null;                                       // the measured position nearest to t, same segment
    f.reach.forEach(function (q) {
      if (f.segOf[q.t] === s0 && (r === null || Math.abs(q.t - t) < Math.abs(r.t - t))) { r = q; }
    });
    var label = 'gradient ||dL_t/d' + part + '_{t-d}|| / ||dL_t/dh_t||';
    if (r !== null) {
      curve(r.d.map(function (d, i) { return [d, r.norm[i] === null ? NaN : Math.log10(r.norm[i])]; }), 'jac');
      var mem = memoryLength(r);
      svg.setAttribute('data-t', String(r.t));
      svg.setAttribute('data-memory', mem === null ? '' : String(mem));
      if (mem !== null) {
        node('svg:line', {'x1': rx(mem, D), 'x2': rx(mem, D), 'y1': RY0, 'y2': RY1, 'class': 'mem'}, svg);
      }
      label = '||ds_t/ds_{t-d}|| at t=' + r.t + ' (solid)' + (f.bound_base !== null ? ', bound ||W||^d (dashed)' : '') +
              ', ' + label + ' (grey); memory ' + (mem === null ? '> ' + r.d[r.d.length - 1] : '\u2248 ' + mem) +
              ' steps (below 1e-3, red)';
    }
    p.reachNote.textContent = label;
  }

  function update() {
    var ts = document.getElementById('lab-t');
    ts.textContent = st.t === null ? 'none (hover or click a token; \u2190/\u2192 move it)' : st.t + (st.pinned ? ' (pinned)' : '');
    document.getElementById('lab-k-out').textContent = st.k === null ? 'full BPTT' : 'k = ' + st.k;
    var kIn = document.getElementById('lab-k');
    kIn.value = st.k === null ? kIn.max : String(st.k);
    var steps = allSteps(), sIn = document.getElementById('lab-step');
    var si = st.step === null ? steps.length - 1 : nearestIndex(steps, st.step);
    sIn.value = String(si);
    document.getElementById('lab-step-out').textContent = st.step === null ? 'final model' : 'step ' + st.step;
    document.querySelectorAll('input[name="lab-part"]').forEach(function (r) { r.checked = r.value === st.part; });
    panels.forEach(function (p) {
      var f = frameOf(p.m);
      if (p.frame !== f) { buildTokens(p, f); }
      p.sec.classList.toggle('focus', st.model === p.m.name);
      var t = st.t !== null && st.t < f.steps ? st.t : null, part = partOf(f);
      p.toks.forEach(function (tok, s) {
        if (t === null) {
          tok.removeAttribute('data-log10g'); tok.removeAttribute('data-log10g-c');
          tok.style.background = ''; tok.style.color = '';
          tok.className = 'tok'; return;
        }
        var v = log10g(f, part, t, s), vh = part === 'h' ? v : log10g(f, 'h', t, s);
        tok.setAttribute('data-log10g', vh === null ? '' : fmt(vh));       // the contract: always the h part
        if (f.parts.indexOf('c') >= 0) { tok.setAttribute('data-log10g-c', v === null ? '' : fmt(log10g(f, 'c', t, s))); }
        var cut = v !== null && st.k !== null && t - s > st.k && s >= f.segOf[t];
        tok.className = 'tok' + (s === t ? ' cur' : '') + (v === null ? ' after' : '') + (cut ? ' cut' : '');
        tok.style.background = v === null || v === -Infinity ? '' : colour(v);
        tok.style.color = v !== null && v > LO + 0.6 * (HI - LO) ? '#fff' : '';
      });
      drawReach(p, f, t);
      stats(p, f, t);
    });
  }

  function stats(p, f, t) {
    var k = st.k, T = f.steps, kk = k === null || k >= T - 1 ? T - 1 : k;
    var total = f.cumMass[T], dropped = total > 0 ? 1 - f.cumMass[kk + 1] / total : 0;
    var cos = f.cosine_by_k[kk];
    p.stats.innerHTML = '';
    node('span', {}, p.stats, (k === null ? 'Full BPTT' : 'Truncated BPTT(' + k + ')') + ' drops ');
    node('b', {'class': 'mass-dropped', 'data-value': dropped.toFixed(6)}, p.stats, (100 * dropped).toFixed(1) + '%');
    node('span', {}, p.stats, ' of the gradient mass \u03a3 ||dL_t/ds_{t-d}|| over this text; cosine of its dL/dW_hh to the full one: ');
    node('b', {'class': 'cosine', 'data-value': cos === null ? '' : cos.toFixed(6)}, p.stats, cos === null ? 'n/a' : cos.toFixed(4));
    if (t !== null) {
      var part = partOf(f), all = 0, cut = 0;
      for (var s = f.segOf[t]; s <= t; s++) {
        var v = log10g(f, part, t, s), w = v === -Infinity ? 0 : Math.pow(10, v);
        all += w; if (k !== null && t - s > k) { cut += w; }
      }
      node('span', {}, p.stats, '; of L_' + t + '\u2019s own ' + part + ' gradient: ' + (all > 0 ? (100 * cut / all).toFixed(1) : '0.0') + '% dropped.');
    }
  }

  // -- controls ---------------------------------------------------------------------------------------
  function allSteps() {
    var s = {};
    LAB.models.forEach(function (m) { m.frames.forEach(function (f) { s[f.step] = 1; }); });
    return Object.keys(s).map(Number).sort(function (a, b) { return a - b; });
  }
  function nearestIndex(arr, v) {
    var b = 0;
    arr.forEach(function (a, i) { if (Math.abs(a - v) < Math.abs(arr[b] - v)) { b = i; } });
    return b;
  }
  var maxT = Math.max.apply(null, LAB.models.map(function (m) {
    return Math.max.apply(null, m.frames.map(function (f) { return f.steps; }));
  }));
  var kIn = document.getElementById('lab-k');
  kIn.max = String(maxT - 1);
  kIn.addEventListener('input', function () {
    var k = +kIn.value; st.k = k >= maxT - 1 ? null : k; writeHash(); update();
  });
  var sIn = document.getElementById('lab-step'), steps = allSteps();
  sIn.max = String(steps.length - 1);
  sIn.addEventListener('input', function () {
    var i = +sIn.value; st.step = i === steps.length - 1 ? null : steps[i]; writeHash(); update();
  });
  document.querySelectorAll('input[name="lab-part"]').forEach(function (r) {
    r.addEventListener('change', function () { st.part = r.value; writeHash(); update(); });
  });
  document.addEventListener('keydown', function (e) {
    if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') { return; }
    if (e.target && e.target.tagName === 'INPUT') { return; }     // a slider keeps its own arrows
    var t = st.t === null ? 0 : st.t + (e.key === 'ArrowRight' ? 1 : -1);
    st.t = Math.max(0, Math.min(maxT - 1, t)); st.pinned = true;
    if (st.model === null) { st.model = LAB.models[0].name; }
    e.preventDefault(); writeHash(); update();
  });

  // the training timeline: snapshots (ticks) and exploding-gradient events (red), a click jumps
  function drawTimeline() {
    var svg = document.getElementById('lab-timeline'), last = steps[steps.length - 1] || 1;
    var X0 = 10, X1 = 890, x = function (s) { return X0 + (X1 - X0) * s / Math.max(last, 1); };
    node('svg:line', {'x1': X0, 'x2': X1, 'y1': 20, 'y2': 20, 'class': 'axis'}, svg);
    steps.forEach(function (s) {
      var c = node('svg:circle', {'cx': x(s), 'cy': 20, 'r': 5, 'class': 'snap', 'data-step': s}, svg);
      node('svg:title', {}, c, 'snapshot at step ' + s);
      c.addEventListener('click', function () { st.step = s === last ? null : s; writeHash(); update(); });
    });
    LAB.models.forEach(function (m) {
      (m.events || []).forEach(function (ev) {
        var mark = node('svg:path', {'d': 'M' + x(ev.step) + ',8l-5,-8h10z', 'class': 'event ' + ev.kind,
                                     'data-step': ev.step}, svg);
        node('svg:title', {}, mark, m.name + ': ' + ev.kind + ' at step ' + ev.step + ' (click: nearest snapshot)');
        mark.addEventListener('click', function () {
          var s = steps[nearestIndex(steps, ev.step)];
          st.step = s === last ? null : s; writeHash(); update();
        });
      });
    });
    node('svg:text', {'x': X0, 'y': 38, 'class': 'xlab'}, svg, 'step 0');
    node('svg:text', {'x': X1, 'y': 38, 'class': 'xlab end'}, svg, 'step ' + last);
  }
  drawTimeline();

  // the colour legend: the fixed decades
  (function legend() {
    var svg = document.getElementById('lab-legend'), n = 60;
    for (var i = 0; i < n; i++) {
      node('svg:rect', {'x': 10 + i * 5, 'y': 4, 'width': 5.5, 'height': 12, 'fill': colour(LO + (HI - LO) * (i + 0.5) / n)}, svg);
    }
    for (var dcd = LO; dcd <= HI; dcd++) {
      node('svg:text', {'x': 10 + 300 * (dcd - LO) / (HI - LO), 'y': 28, 'class': 'xlab mid'}, svg, '1e' + dcd);
    }
  })();

  root.hidden = false;
  readHash();
  window.addEventListener('hashchange', function () { readHash(); update(); });
  update();
  if (st.pinned) { root.scrollIntoView(); }          // a link to a view opens at it
})();
