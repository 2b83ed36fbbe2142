// SPDX-License-Identifier: AGPL-3.0-or-later
// A whole local Bluesky network from @atproto/dev-env: a did:plc directory, the reference
// PDS, the reference AppView (@atproto/bsky, indexing the PDS's firehose into PostgreSQL),
// bsync and ozone. The PDS proxies app.bsky.* to this AppView, as bsky.social does.
//
// Needs DB_POSTGRES_URL and REDIS_HOST. Prints one JSON line with the URLs when ready, then
// answers POST /process-all on CONTROL_PORT once the AppView has indexed everything the
// PDS has sequenced so far (tests wait on it instead of sleeping).
import './bind-loopback.cjs'
import dns from 'node:dns'
import http from 'node:http'
import pg from 'pg'
import { TestNetwork } from '@atproto/dev-env'

// dev-env names every service http://localhost:<port> while they listen on 127.0.0.1 only
dns.setDefaultResultOrder('ipv4first')

const schema = process.env.NETWORK_DB_SCHEMA
if (!schema || !/^[a-z_]+$/.test(schema)) throw new Error('NETWORK_DB_SCHEMA: [a-z_]+')
const dbUrl = process.env.DB_POSTGRES_URL
const network = await TestNetwork.create({ dbPostgresUrl: dbUrl, dbPostgresSchema: schema })

let busy = Promise.resolve()
const control = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/process-all') {
    res.writeHead(404).end()
    return
  }
  busy = busy.then(() => network.processAll(20000)).then(
    () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'),
    (err) => res.writeHead(500).end(String(err)),
  )
})
control.listen(Number(process.env.CONTROL_PORT), () => {
  console.log(
    JSON.stringify({
      ready: true,
      pds: network.pds.url,
      appview: network.bsky.url,
      appview_did: network.bsky.ctx.cfg.serverDid,
      plc: network.plc.url,
    }),
  )
})

const stop = async () => {
  control.close()
  try {
    await network.close()
  } finally {
    // the schemas dev-env made for this run: leave the shared database as it was
    const client = new pg.Client({ connectionString: dbUrl })
    await client.connect()
    for (const prefix of ['appview_', 'bsync_', 'ozone_']) {
      await client.query(`DROP SCHEMA IF EXISTS "${prefix}${schema}" CASCADE`)
    }
    await client.end()
    process.exit(0)
  }
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
