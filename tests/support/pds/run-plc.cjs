// SPDX-License-Identifier: AGPL-3.0-or-later
// A did:plc directory in memory (like @atproto/dev-env's TestPlc), on PLC_PORT.
require('./bind-loopback.cjs')
const { PlcServer, Database } = require('@did-plc/server')

const port = parseInt(process.env.PLC_PORT || '2582', 10)
;(async () => {
  const plc = PlcServer.create({ db: Database.mock(), port })
  await plc.start()
  console.log('plc running on port', port)
  const stop = async () => {
    await plc.destroy()
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
})().catch((err) => {
  console.error(err)
  process.exit(1)
})
