/**
 * The status page's HTML: readable without JavaScript (the table, uptime bars, latency, incidents
 * are in the page as served), kept live by a few lines of script polling `status.json` (no
 * reload, no library, no CDN), laid out to fit a phone.
 */
import type { LiveNode, StatusModel } from './model.js';
import { escapeXml as esc, latencyChart, SEGMENT_CSS, uptimeBar } from './svg.js';

const STATUS_CLASS = (s: string) => (s === 'ok' ? 'ok' : s === 'throttled' || s === 'loading' || s === 'unknown' ? 'warn' : 'down');
const pct = (v: number | null) => (v === null ? '–' : `${v.toFixed(2)} %`);

const CSS = `
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;padding:12px;color:#1f2328;background:#f6f8fa}
h1{font-size:18px;margin:0 0 4px}h2{font-size:15px;margin:18px 0 6px}
.meta{color:#656d76;font-size:12px}.wrap{overflow-x:auto;background:#fff;border:1px solid #d0d7de;border-radius:6px}
table{border-collapse:collapse;width:100%}th,td{padding:6px 8px;text-align:left;border-bottom:1px solid #eaeef2;white-space:nowrap;vertical-align:middle}
th{font-size:12px;color:#656d76;font-weight:600}.ok{color:#1a7f37;font-weight:600}.warn{color:#9a6700;font-weight:600}.down{color:#cf222e;font-weight:600}
.bars div{display:flex;align-items:center;gap:6px;font-size:11px;color:#656d76}.bars span{width:44px}.bar{height:14px;width:120px}
.detail{color:#656d76;font-size:12px;white-space:normal;max-width:260px}ul{padding-left:18px;margin:4px 0}
@media (max-width:640px){td.lat,th.lat{display:none}.bar{width:90px}}${SEGMENT_CSS}`;

const SCRIPT = (intervalMs: number) => `
(function(){
  var cls=function(s){return s==='ok'?'ok':(s==='throttled'||s==='loading'||s==='unknown')?'warn':'down';};
  function set(row,sel,text,c){var el=row.querySelector(sel);if(!el)return;el.textContent=text;if(c!==undefined)el.className=sel.slice(1)+' '+c;}
  function tick(){
    fetch('status.json',{cache:'no-store'}).then(function(r){return r.ok?r.json():null;}).then(function(d){
      if(!d)return;
      var down=[];
      d.nodes.forEach(function(n){
        var row=document.querySelector('tr[data-node="'+n.id+'"]');if(!row)return;
        set(row,'.st',n.status,cls(n.status));
        set(row,'.br',n.breaker.replace('_','-'),n.breaker==='open'?'down':n.breaker==='half_open'?'warn':'');
        set(row,'.fl',String(n.inFlight));
        set(row,'.lat',n.latencyMs===null?'–':n.latencyMs+' ms');
        row.setAttribute('data-status',n.status);
        if(cls(n.status)==='down')down.push(n);
      });
      var list=document.getElementById('down');
      if(list){list.textContent='';if(down.length===0){var li=document.createElement('li');li.textContent='none: every node answers';list.appendChild(li);}
        down.forEach(function(n){var li=document.createElement('li');li.textContent=n.id+': '+n.status+(n.detail?' ('+n.detail+')':'');list.appendChild(li);});}
      var u=document.getElementById('updated');if(u)u.textContent=new Date().toISOString().slice(11,19)+' UTC';
    }).catch(function(){});
  }
  setInterval(tick,${intervalMs});
})();`;

function downList(nodes: readonly LiveNode[]): string {
  const down = nodes.filter((n) => STATUS_CLASS(n.status) === 'down');
  if (down.length === 0) return '<li>none: every node answers</li>';
  return down.map((n) => `<li>${esc(n.id)}: ${esc(n.status)}${n.detail ? ` (${esc(n.detail)})` : ''}</li>`).join('');
}

export function renderStatusPage(m: StatusModel): string {
  const rows = m.nodes
    .map((n) => {
      const bars = (['24h', '7d', '30d'] as const).map((w) => `<div><span>${w}</span>${uptimeBar(n.bars[w], `${n.id} uptime ${w}`)}<b data-window="${w}">${pct(n.uptime[w])}</b></div>`).join('');
      const breaker = n.breaker === 'open' ? 'down' : n.breaker === 'half_open' ? 'warn' : '';
      return `<tr data-node="${esc(n.id)}" data-status="${esc(n.status)}"><td><b>${esc(n.id)}</b><div class="detail">${esc([n.kind, n.model, n.role].filter(Boolean).join(' · '))}</div></td><td class="st ${STATUS_CLASS(n.status)}">${esc(n.status)}</td><td class="bars">${bars}</td><td class="lat">${n.latencyMs === null ? '–' : `${n.latencyMs} ms`}<br>${latencyChart(n.latency24h, `${n.id} p50 latency, last 24 h`)}</td><td class="br ${breaker}">${esc(n.breaker.replace('_', '-'))}</td><td class="fl">${n.inFlight}</td></tr>`;
    })
    .join('');
  const incidents = m.incidents.length === 0 ? '<li>none recorded</li>' : m.incidents.map((i) => `<li>${esc(i.at.slice(0, 16).replace('T', ' '))} UTC <b>${esc(i.node)}</b>: ${esc(i.diagnosis)}, ${esc(i.outcome)}${i.escalated ? ' <span class="down">escalated</span>' : ''}</li>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>jarvis: cluster status</title><link rel="icon" href="data:,"><style>${CSS}</style></head>
<body><h1>Cluster status</h1><div class="meta">jarvis serve · ${m.nodes.length} nodes · updated <span id="updated">${esc(m.generatedAt.slice(11, 19))} UTC</span> · live every ${(m.intervalMs / 1000).toFixed(1)} s</div>
<h2>Down now</h2><ul id="down">${downList(m.nodes)}</ul>
<div class="wrap"><table id="nodes"><thead><tr><th>node</th><th>status</th><th>uptime (probes answered per hour / day)</th><th class="lat">latency</th><th>breaker</th><th>in flight</th></tr></thead><tbody>${rows}</tbody></table></div>
<h2>Last incidents</h2><ul id="incidents">${incidents}</ul>
<script>${SCRIPT(m.intervalMs)}</script></body></html>
`;
}
