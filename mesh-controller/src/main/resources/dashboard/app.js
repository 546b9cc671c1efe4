// The Isthmus dashboard: polls /dashboard/api/mesh and redraws without reloading the page.
// Every value from the API goes into the page as text (never as HTML).
(function () {
  'use strict';
  const SVG = 'http://www.w3.org/2000/svg';
  const POLL_MS = 3000;
  const token = new URLSearchParams(window.location.search).get('token');

  function el(tag, attrs, text) {
    const e = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null) e.setAttribute(k, String(v));
    }
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  function rate(x) { return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2); }
  function percent(x) { return (100 * x).toFixed(x > 0 && x < 0.01 ? 2 : 1) + '%'; }
  function millis(x) { return x === null || x === undefined ? 'p99 –' : 'p99 ' + (x >= 10 ? x.toFixed(0) : x.toFixed(1)) + ' ms'; }
  function duration(s) {
    if (s === null || s === undefined) return '–';
    if (s <= 0) return 'expired';
    if (s < 3600) return Math.floor(s / 60) + ' min';
    if (s < 172800) return (s / 3600).toFixed(1) + ' h';
    return Math.floor(s / 86400) + ' days';
  }
  function securityText(s) { return s === 'mutual_tls' ? 'mTLS' : s === 'none' ? 'plain' : s === 'mixed' ? 'mixed' : '?'; }
  function securityClass(s) { return s === 'mutual_tls' ? 'mtls' : s === 'none' || s === 'mixed' ? 'plain' : 'unknown'; }

  function drawGraph(mesh) {
    const svg = document.getElementById('graph');
    svg.replaceChildren();
    svg.setAttribute('width', mesh.width);
    svg.setAttribute('height', mesh.height);
    svg.setAttribute('viewBox', '0 0 ' + mesh.width + ' ' + mesh.height);
    const defs = el('svg:defs');
    const marker = el('svg:marker', {id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse'});
    marker.appendChild(el('svg:path', {d: 'M 0 0 L 10 5 L 0 10 z', fill: '#5b7fd6'}));
    defs.appendChild(marker);
    svg.appendChild(defs);

    const nodes = new Map();
    const active = new Set();
    for (const e of mesh.edges) {
      if (e.requestsPerSecond > 0) { active.add(e.from); active.add(e.to); }
    }
    const clusterLayer = el('svg:g', {class: 'clusters'});
    const edgeLayer = el('svg:g', {class: 'edges'});
    const nodeLayer = el('svg:g', {class: 'nodes'});
    for (const c of mesh.clusters) {
      const g = el('svg:g', {class: 'cluster', 'data-cluster': c.name});
      g.appendChild(el('svg:rect', {class: 'cluster-box', x: c.x, y: c.y, width: c.width, height: c.height, rx: 8}));
      const healthy = c.health && c.health.ready;
      g.appendChild(el('svg:circle', {cx: c.x + 14, cy: c.y + 18, r: 5, fill: c.health ? (healthy ? '#1a7f37' : '#d92d20') : '#dba617'}));
      g.appendChild(el('svg:text', {class: 'cluster-title', x: c.x + 26, y: c.y + 22}, c.name));
      g.appendChild(el('svg:text', {class: 'cluster-sub', x: c.x + 26, y: c.y + 36}, c.network + ' · ' + c.locality));
      clusterLayer.appendChild(g);
      for (const n of c.nodes) {
        nodes.set(n.id, n);
        const ng = el('svg:g', {class: 'node ' + n.kind + (active.has(n.id) ? '' : ' idle'), 'data-id': n.id, 'data-cluster': n.cluster, 'data-kind': n.kind});
        ng.appendChild(el('svg:rect', {class: 'node-box', x: n.x, y: n.y, width: n.width, height: n.height, rx: 4}));
        // The cluster box says where it is: drop the common Kubernetes suffix (the tooltip keeps it).
        const label = n.name.endsWith('.svc.cluster.local') ? n.name.slice(0, -'.svc.cluster.local'.length) : n.name;
        ng.appendChild(el('svg:text', {class: 'node-name', x: n.x + 8, y: n.y + n.height / 2 + 4, 'data-width': n.width - 14}, label));
        ng.appendChild(el('svg:title', {}, n.kind + ' ' + n.name + ' in ' + n.cluster));
        nodeLayer.appendChild(ng);
      }
    }
    // Routes and label boxes come laid out from the controller (MeshGraphBuilder): edges run
    // through gaps and gutters only, labels where they overlap nothing.
    const labelLayer = el('svg:g', {class: 'edge-labels'});
    for (const e of mesh.edges) {
      if (!e.route || e.route.length < 2) continue;
      const cls = ['edge'];
      if (e.fromCluster !== e.toCluster) cls.push('cross');
      if (e.errorRate > 0) cls.push('errors');
      if (!(e.requestsPerSecond > 0)) cls.push('idle');
      const attrs = {class: cls.join(' '), 'data-from': e.from, 'data-to': e.to,
        'data-from-cluster': e.fromCluster, 'data-to-cluster': e.toCluster,
        'data-rps': e.requestsPerSecond, 'data-error-rate': e.errorRate, 'data-security': e.security};
      const g = el('svg:g', attrs);
      const d = e.route.map((p, i) => (i === 0 ? 'M ' : 'L ') + p.x + ' ' + p.y).join(' ');
      g.appendChild(el('svg:path', {d: d, 'marker-end': 'url(#arrow)'}));
      g.appendChild(el('svg:title', {}, e.from + ' → ' + e.to + ' (reported by ' + e.reporter + ')'));
      edgeLayer.appendChild(g);
      const l = e.label;
      if (!l) continue;
      const lg = el('svg:g', {class: 'edge-tag', 'data-from': e.from, 'data-to': e.to});
      lg.appendChild(el('svg:rect', {class: 'edge-label-box', x: l.x, y: l.y, width: l.width, height: l.height, rx: 3}));
      const t = el('svg:text', {class: 'edge-label', x: l.x + 2, y: l.y + l.height - 3, textLength: l.width - 4,
        lengthAdjust: 'spacingAndGlyphs'});
      t.appendChild(el('svg:tspan', {}, l.text + ' '));
      t.appendChild(el('svg:tspan', {class: securityClass(e.security)}, l.security));
      lg.appendChild(t);
      lg.appendChild(el('svg:title', {}, e.from + ' → ' + e.to + ': ' + rate(e.requestsPerSecond) + ' rps · '
        + percent(e.errorRate) + ' errors · ' + millis(e.p99Millis) + ' · ' + securityText(e.security)));
      labelLayer.appendChild(lg);
    }
    svg.appendChild(clusterLayer);
    svg.appendChild(edgeLayer);
    svg.appendChild(nodeLayer);
    svg.appendChild(labelLayer);
    // Measured once drawn: a name longer than its box is cut with an ellipsis.
    for (const t of nodeLayer.querySelectorAll('text.node-name')) {
      const max = Number(t.getAttribute('data-width'));
      let text = t.textContent;
      while (text.length > 4 && t.getComputedTextLength() > max) {
        text = text.slice(0, -2);
        t.textContent = text + '…';
      }
    }
  }

  function item(ul, ok, text) {
    const li = el('li');
    li.appendChild(el('span', {class: 'dot ' + (ok === null ? 'warn' : ok ? 'ok' : 'bad')}));
    li.appendChild(document.createTextNode(text));
    ul.appendChild(li);
  }

  function drawHealth(mesh) {
    const box = document.getElementById('health');
    box.replaceChildren();
    for (const c of mesh.clusters) {
      const card = el('div', {class: 'card', 'data-cluster': c.name});
      card.appendChild(el('h3', {}, c.name + ' (' + c.network + ', ' + c.locality + ')'));
      const ul = el('ul');
      const h = c.health;
      if (!h) {
        item(ul, null, 'controller not reachable: health unknown');
      } else {
        item(ul, h.ready, h.ready ? 'controller ready' : 'not ready: ' + h.waitingFor.join('; '));
        item(ul, h.apiSynced, 'Kubernetes API ' + (h.apiSynced ? 'synced' : 'not synced'));
        item(ul, !!h.leader, 'federation leader: ' + (h.leader || 'none') + ' · members: ' + h.members.join(', ') + ' · term ' + h.term);
        if (h.gateways.length === 0) item(ul, null, 'no east-west gateway');
        for (const g of h.gateways) item(ul, g.reachable, 'gateway ' + g.address + ':' + g.port + (g.reachable ? ' reachable' : ' unreachable: ' + g.error));
        for (const cert of h.certificates) item(ul, cert.daysLeft > 30 ? true : cert.daysLeft > 7 ? null : false, cert.name + ' expires in ' + cert.daysLeft + ' days (' + cert.notAfter + ')');
        // Workload certificates: what the cluster's proxies report in istio_agent_cert_expiry_seconds.
        const certs = mesh.proxies.filter(p => p.cluster === c.name && typeof p.certExpiresInSeconds === 'number');
        if (certs.length === 0) {
          item(ul, null, 'workload certificates: not known (no proxy metrics read)');
        } else {
          const first = certs.reduce((a, b) => a.certExpiresInSeconds <= b.certExpiresInSeconds ? a : b);
          const left = first.certExpiresInSeconds;
          item(ul, left > 3600 ? true : left > 0 ? null : false, 'workload certificates (' + certs.length
            + ' proxies): first expires in ' + duration(left) + ' (' + first.id + ')');
        }
        item(ul, h.configErrors.length === 0, h.configErrors.length === 0 ? 'no rejected configuration' : h.configErrors.length + ' rejected: ' + h.configErrors.join(' | '));
      }
      card.appendChild(ul);
      box.appendChild(card);
    }
  }

  function rows(id, list, cells) {
    const body = document.querySelector('#' + id + ' tbody');
    body.replaceChildren();
    for (const x of list) {
      const tr = el('tr');
      for (const [text, cls] of cells(x)) tr.appendChild(el('td', cls ? {class: cls} : {}, text));
      body.appendChild(tr);
    }
  }

  function render(mesh) {
    document.getElementById('viewpoint').textContent = 'seen from ' + mesh.viewpoint;
    document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString() + ' (data ' + mesh.generatedAt + ')';
    const problems = document.getElementById('problems');
    problems.hidden = mesh.problems.length === 0;
    problems.textContent = mesh.problems.join(' · ');
    drawGraph(mesh);
    drawHealth(mesh);
    rows('localities', mesh.localities, x => [[x.client + ' (' + x.clientCluster + ', ' + x.clientLocality + ')'], [x.service],
      [x.servedFrom.join(', ')], [x.since], [x.previous.join(', ') || '–']]);
    rows('edges', mesh.edges, x => [[x.from], [x.to], [rate(x.requestsPerSecond), 'num'], [percent(x.errorRate), 'num'],
      [millis(x.p99Millis), 'num'], [securityText(x.security)], [x.reporter]]);
    rows('proxies', mesh.proxies, x => [[x.id], [x.cluster], [x.type], [x.status], [duration(x.certExpiresInSeconds), 'num'],
      [x.error || x.target]]);
  }

  async function poll() {
    try {
      const headers = token ? {Authorization: 'Bearer ' + token} : {};
      const response = await fetch('/dashboard/api/mesh', {headers: headers, cache: 'no-store'});
      if (!response.ok) throw new Error('HTTP ' + response.status + ': ' + (await response.text()));
      render(await response.json());
    } catch (e) {
      // Keep the last good picture; say why it is not fresh.
      document.getElementById('updated').textContent = 'update failed: ' + e.message;
    } finally {
      window.setTimeout(poll, POLL_MS);
    }
  }
  poll();
})();
