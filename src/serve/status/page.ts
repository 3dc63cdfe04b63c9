/**
 * The status page's HTML: readable without JavaScript (the banner, nodes, uptime bars, latency,
 * incidents are in the page as served), kept live by a few lines of script polling `status.json`
 * (no reload, no library, no CDN). Cards under 640 px, dark when the system is.
 */
import type { Overall } from '../cluster-state.js';
import type { LiveNode, StatusModel } from './model.js';
import { coverageText, spanText } from '../../history/timeline.js';
import { escapeXml as esc, SEGMENT_CSS, sparkline, uptimeBar, VERDICTS } from './svg.js';

/** The banner's words for each overall state (the rule is /health's: cluster-state.ts). */
const BANNER: Record<Overall, string> = {
  operational: 'All systems operational',
  degraded: 'Degraded',
  partial_outage: 'Partial outage',
  major_outage: 'Major outage',
};

/** A status word's class: ok green, throttled/loading/unknown amber, any failure red. */
const STATUS_CLASS = (s: string) => (s === 'ok' ? 'ok' : s === 'throttled' ? 'thr' : s === 'loading' || s === 'unknown' || s === 'model_missing' ? 'warn' : 'down');
const pct = (v: number | null) => (v === null ? '–' : `${v.toFixed(2)} %`);

/** "watched 12 min of 7 d" when part of the window went unwatched; nothing when all of it was watched. */
function coverage(watched: number, window: number, name: string): string {
  const c = coverageText(watched, window, name);
  return c.all ? '' : `watched ${c.text}`;
}

const CSS = `
:root{color-scheme:light dark;--fg:#1f2328;--dim:#656d76;--bg:#f6f8fa;--card:#fff;--line:#d0d7de;--soft:#eaeef2;--none:#d0d4d9;--ok:#1a7f37;--warn:#9a6700;--down:#cf222e;--thr:#8250df;--spark:#0969da}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--dim:#9198a1;--bg:#0d1117;--card:#161b22;--line:#30363d;--soft:#21262d;--none:#3d444d;--ok:#3fb950;--warn:#d29922;--down:#f85149;--thr:#a371f7;--spark:#4493f8}}
*{box-sizing:border-box}body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;padding:12px;color:var(--fg);background:var(--bg)}
h1{font-size:18px;margin:0 0 8px}h2{font-size:15px;margin:18px 0 6px}
.banner{border-radius:6px;padding:10px 14px;margin:0 0 6px;color:#fff;font-size:16px}.banner b{font-weight:700}.banner span{display:block;font-size:13px;opacity:.9}
.operational{background:#1a7f37}.degraded{background:#9a6700}.partial_outage{background:#bc4c00}.major_outage{background:#a40e26}
.meta{color:var(--dim);font-size:12px;overflow-wrap:anywhere}.meta .stale{color:var(--down);font-weight:600}
.wrap{background:var(--card);border:1px solid var(--line);border-radius:6px}
table{border-collapse:collapse;width:100%}th,td{padding:6px 8px;text-align:left;border-bottom:1px solid var(--soft);vertical-align:middle}
th{font-size:12px;color:var(--dim);font-weight:600}.ok{color:var(--ok);font-weight:600}.warn{color:var(--warn);font-weight:600}.down{color:var(--down);font-weight:600}.thr{color:var(--thr);font-weight:600}
.age,.detail,.why{color:var(--dim);font-size:12px;overflow-wrap:anywhere}.why{max-width:260px}
td.bars{width:44%;min-width:220px}.win{display:flex;align-items:center;gap:6px;font-size:11px;color:var(--dim)}.win .wl{width:28px;flex:none}.win .pc{width:62px;flex:none;text-align:right;color:var(--fg)}
.win .cov{flex:none;width:100%;padding-left:34px;margin-top:-2px}.win{flex-wrap:wrap}
svg.bar{flex:1;min-width:0;height:16px;display:block}svg.chart{width:120px;height:28px;display:block}svg.chart polyline{fill:none;stroke:var(--spark);stroke-width:1.5;vector-effect:non-scaling-stroke}svg.chart circle{fill:var(--spark)}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;color:var(--dim);padding:8px}.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
#tip{position:fixed;pointer-events:none;background:var(--fg);color:var(--bg);font-size:12px;padding:4px 6px;border-radius:4px;white-space:nowrap;z-index:2}
ul{padding-left:18px;margin:4px 0;overflow-wrap:anywhere}
@media (max-width:640px){thead{display:none}table,tbody{display:block}tr{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));border-bottom:1px solid var(--line);padding:6px 0}td{display:block;border:0;padding:3px 10px;min-width:0}
td[data-label]:before{content:attr(data-label);display:block;font-size:11px;color:var(--dim)}td.nm,td.bars{grid-column:1/-1}td.bars{order:5;min-width:0;width:auto}.why{max-width:none}td.nm:before{display:none}}
${SEGMENT_CSS}`;

/**
 * The live part, polled every `pollMs`: the banner, each node's status, the probe's age (ticking
 * every second between polls), breaker, in-flight, latency and its sparkline. A poll that fails
 * says the page is stale rather than showing old news as current. Hovering a bar names its
 * segment and its figures.
 */
const SCRIPT = (pollMs: number) => `
(function(){
  var BANNER=${JSON.stringify(BANNER)};
  var cls=function(s){return s==='ok'?'ok':s==='throttled'?'thr':(s==='loading'||s==='unknown'||s==='model_missing')?'warn':'down';};
  var skew=0,lastOk=Date.now();
  function $(s,r){return (r||document).querySelector(s);}
  function set(el,text,c){if(!el)return;el.textContent=text;if(c!==undefined)el.className=c;}
  function ago(ms){ms=Math.max(0,ms);return ms<60000?Math.round(ms/1000)+' s':ms<7200000?Math.round(ms/60000)+' min':Math.round(ms/3600000)+' h';}
  function ages(){document.querySelectorAll('[data-probed]').forEach(function(el){var t=Date.parse(el.getAttribute('data-probed'));if(!isNaN(t))el.textContent='probed '+ago(Date.now()-skew-t)+' ago';});
    var st=$('#stale');if(st)st.textContent=Date.now()-lastOk>${pollMs}*3?' · no answer from jarvis for '+ago(Date.now()-lastOk)+': what you see may be old':'';}
  function spark(svg,pts){if(!svg)return;var w=120,h=28,max=1;pts.forEach(function(p){if(p!==null&&p>max)max=p;});var step=pts.length>1?w/(pts.length-1):w,runs=[[]];
    pts.forEach(function(p,i){if(p===null)runs.push([]);else runs[runs.length-1].push((i*step).toFixed(1)+','+(h-2-(p/max)*(h-4)).toFixed(1));});
    var ns='http://www.w3.org/2000/svg',t=svg.querySelector('title');while(svg.lastChild&&svg.lastChild!==t)svg.removeChild(svg.lastChild);
    runs.forEach(function(r){if(!r.length)return;var el;if(r.length===1){el=document.createElementNS(ns,'circle');el.setAttribute('cx',r[0].split(',')[0]);el.setAttribute('cy',r[0].split(',')[1]);el.setAttribute('r','1.5');}
      else{el=document.createElementNS(ns,'polyline');el.setAttribute('points',r.join(' '));}svg.appendChild(el);});}
  function tick(){
    fetch('status.json',{cache:'no-store'}).then(function(r){return r.ok?r.json():null;}).then(function(d){
      if(!d)return;
      lastOk=Date.now();skew=Date.now()-Date.parse(d.generatedAt);
      var b=$('#banner');if(b){b.className='banner '+d.cluster.overall;set($('#overall'),BANNER[d.cluster.overall]);set($('#reason'),d.cluster.reason||'');}
      var down=[];
      d.nodes.forEach(function(n){
        var row=document.querySelector('tr[data-node="'+n.id+'"]');if(!row)return;
        set($('.st',row),n.status,'st '+cls(n.status));
        set($('.why',row),n.detail&&n.status!=='ok'?n.detail:'','why');
        var age=$('.age',row);if(age&&n.probedAt)age.setAttribute('data-probed',n.probedAt);
        set($('.br',row),n.breaker.replace('_','-'),'br '+(n.breaker==='open'?'down':n.breaker==='half_open'?'warn':''));
        set($('.fl',row),String(n.inFlight));
        set($('.pn',row),String(n.pins));
        set($('.lv',row),n.latencyMs===null?'–':n.latencyMs+' ms');
        spark($('svg.chart',row),n.recent);
        row.setAttribute('data-status',n.status);
        if(cls(n.status)==='down')down.push(n);
      });
      var list=$('#down');
      if(list){list.textContent='';if(down.length===0){var li=document.createElement('li');li.textContent='none: every node answers';list.appendChild(li);}
        down.forEach(function(n){var li=document.createElement('li');li.textContent=n.id+': '+n.status+(n.detail?' ('+n.detail+')':'');list.appendChild(li);});}
      set($('#updated'),new Date(Date.parse(d.generatedAt)).toISOString().slice(11,19)+' UTC');
      ages();
    }).catch(function(){});
  }
  var tip=$('#tip');
  document.addEventListener('mousemove',function(e){
    var svg=e.target&&e.target.closest?e.target.closest('svg.bar'):null;
    if(!svg||!tip){if(tip)tip.hidden=true;return;}
    var seg=svg.getAttribute('data-seg').split(' '),r=svg.getBoundingClientRect(),i=Math.min(seg.length-1,Math.max(0,Math.floor((e.clientX-r.left)/r.width*seg.length)));
    var f=seg[i].split(','),size=+svg.getAttribute('data-size'),at=new Date(+svg.getAttribute('data-start')+i*size).toISOString();
    var label=size<86400000?at.slice(0,13).replace('T',' ')+'h UTC':at.slice(0,10);
    var whole=size/60000,watched=f.length>1?+f[1]:whole;
    tip.textContent=label+': '+(f[0]==='-'?(watched?'throttled throughout':'not watched'):f[0]+' % up')+(watched&&watched<whole-1?', watched '+watched+' of '+whole+' min':'')+(f.length>2&&+f[2]?', throttled '+f[2]+' min':'');
    tip.hidden=false;tip.style.left=Math.min(e.clientX+12,window.innerWidth-tip.offsetWidth-4)+'px';tip.style.top=(e.clientY+14)+'px';
  });
  setInterval(tick,${pollMs});setInterval(ages,1000);ages();
})();`;

function downList(nodes: readonly LiveNode[]): string {
  const down = nodes.filter((n) => STATUS_CLASS(n.status) === 'down');
  if (down.length === 0) return '<li>none: every node answers</li>';
  return down.map((n) => `<li>${esc(n.id)}: ${esc(n.status)}${n.detail ? ` (${esc(n.detail)})` : ''}</li>`).join('');
}

function nodeRow(n: StatusModel['nodes'][number], now: number): string {
  const bars = (['24h', '7d', '30d'] as const)
    .map((w) => {
      const f = n.windows[w];
      const cov = coverage(f.watchedMs, f.windowMs, w.replace(/(\d+)/, '$1 '));
      const summary = [f.uptimePct === null ? 'no uptime (nothing up or down watched)' : `${pct(f.uptimePct)} up`, cov, f.throttledMs > 0 ? `throttled ${spanText(f.throttledMs)}` : ''].filter(Boolean).join(', ');
      return `<div class="win"><span class="wl">${w}</span>${uptimeBar(f.bars, `${n.id} uptime ${w}`, summary)}<b class="pc" data-window="${w}">${pct(f.uptimePct)}</b>${cov ? `<span class="cov">${cov}</span>` : ''}</div>`;
    })
    .join('');
  const breaker = n.breaker === 'open' ? 'down' : n.breaker === 'half_open' ? 'warn' : '';
  const age = n.probedAt ? `probed ${spanText(Math.max(0, Math.round((now - Date.parse(n.probedAt)) / 1000) * 1000))} ago` : 'not probed yet';
  const status = `<span class="st ${STATUS_CLASS(n.status)}">${esc(n.status)}</span><div class="age"${n.probedAt ? ` data-probed="${esc(n.probedAt)}"` : ''}>${age}</div><div class="why">${n.detail && n.status !== 'ok' ? esc(n.detail) : ''}</div>`;
  return `<tr data-node="${esc(n.id)}" data-status="${esc(n.status)}"><td class="nm" data-label="node"><b>${esc(n.id)}</b><div class="detail">${esc([n.kind, n.model, n.role].filter(Boolean).join(' · '))}</div></td><td data-label="status">${status}</td><td class="bars" data-label="uptime">${bars}</td><td data-label="latency, last probes"><span class="lv">${n.latencyMs === null ? '–' : `${n.latencyMs} ms`}</span>${sparkline(n.recent, `${n.id} latency, last ${n.recent.length} probes`)}</td><td class="br ${breaker}" data-label="breaker">${esc(n.breaker.replace('_', '-'))}</td><td class="fl" data-label="in flight">${n.inFlight}</td><td class="pn" data-label="conversations pinned" title="conversations whose next turn goes here (its cache holds them)">${n.pins}</td></tr>`;
}

export function renderStatusPage(m: StatusModel): string {
  const now = Date.parse(m.generatedAt);
  const rows = m.nodes.map((n) => nodeRow(n, now)).join('');
  const legend = Object.values(VERDICTS)
    .map((v) => `<span><i class="${v.cls}"></i>${v.legend}</span>`)
    .join('');
  const incidents = m.incidents.length === 0 ? '<li>none recorded</li>' : m.incidents.map((i) => `<li>${esc(i.at.slice(0, 16).replace('T', ' '))} UTC <b>${esc(i.node)}</b>: ${esc(i.diagnosis)}, ${esc(i.outcome)}${i.escalated ? ' <span class="down">escalated</span>' : ''}</li>`).join('');
  const c = m.cluster;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>jarvis: cluster status</title><link rel="icon" href="data:,"><style>${CSS}</style></head>
<body><h1>Cluster status</h1>
<div id="banner" class="banner ${c.overall}" role="status"><b id="overall">${BANNER[c.overall]}</b><span id="reason">${esc(c.reason ?? '')}</span></div>
<div class="meta">jarvis serve · ${m.nodes.length} nodes, probed every ${spanText(m.probeIntervalMs)} · updated <span id="updated">${esc(m.generatedAt.slice(11, 19))} UTC</span>, every ${spanText(m.pollMs)}<span id="stale" class="stale"></span></div>
<h2>Down now</h2><ul id="down">${downList(m.nodes)}</ul>
<div class="wrap"><table id="nodes"><thead><tr><th>node</th><th>status</th><th>uptime: up over up and down time, per hour (24h) or day</th><th>latency, last probes</th><th>breaker</th><th>in flight</th><th title="conversations whose next turn goes to this node: its prompt cache holds them (KV-cache affinity)">pinned</th></tr></thead><tbody>${rows}</tbody></table>
<div class="legend" id="legend">${legend}</div></div>
<h2>Last incidents</h2><ul id="incidents">${incidents}</ul>
<div id="tip" hidden></div>
<script>${SCRIPT(m.pollMs)}</script></body></html>
`;
}
