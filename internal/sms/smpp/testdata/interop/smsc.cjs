'use strict';
// An SMSC played by farhadi/node-smpp (npm "smpp"), an SMPP implementation
// that shares no code with otpgate's, for ../../interop_test.go.
//
//   node smsc.cjs '{"system_id":"otpgate","password":"secret"}'
//
// It listens on 127.0.0.1 at a port of the system's choosing and writes one
// JSON object per line on stdout: first {"event":"listening","port":N}, then
// what it decoded of each PDU an ESME sends it. It accepts a bind whose
// system_id and password match the argument and refuses any other with
// ESME_RINVPASWD; answers every submit_sm with a message id, and on a
// transceiver bind then sends a delivery receipt for it (deliver_sm) and
// reports the deliver_sm_resp. It exits when stdin closes.

const smpp = require('smpp');

const want = JSON.parse(process.argv[2] || '{}');
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

let messages = 0;

const server = smpp.createServer((session) => {
  let transceiver = false;
  session.on('error', (e) => out({ event: 'error', error: String(e) }));

  const bind = (pdu) => {
    const accepted = pdu.system_id === want.system_id && pdu.password === want.password;
    out({
      event: 'bind',
      command: pdu.command,
      system_id: pdu.system_id,
      password: pdu.password,
      system_type: pdu.system_type,
      interface_version: pdu.interface_version,
      addr_ton: pdu.addr_ton,
      addr_npi: pdu.addr_npi,
      address_range: pdu.address_range,
      accepted,
    });
    if (!accepted) {
      session.send(pdu.response({ command_status: smpp.ESME_RINVPASWD }));
      session.close();
      return;
    }
    transceiver = pdu.command === 'bind_transceiver';
    session.send(pdu.response({ system_id: 'node-smsc' }));
  };
  session.on('bind_transceiver', bind);
  session.on('bind_transmitter', bind);

  session.on('enquire_link', (pdu) => {
    out({ event: 'enquire_link' });
    session.send(pdu.response());
  });

  session.on('unbind', (pdu) => {
    out({ event: 'unbind' });
    session.send(pdu.response());
    session.close();
  });

  session.on('submit_sm', (pdu) => {
    const id = 'node-' + ++messages;
    // TLVs node-smpp does not know (DLT's 0x1400, 0x1401) are left on the
    // PDU under their numeric tag, as Buffers.
    const tlvs = {};
    for (const key of Object.keys(pdu)) {
      if (/^\d+$/.test(key)) {
        tlvs[Number(key).toString(16).padStart(4, '0')] = pdu[key].toString('hex');
      }
    }
    out({
      event: 'submit_sm',
      service_type: pdu.service_type,
      source_addr_ton: pdu.source_addr_ton,
      source_addr_npi: pdu.source_addr_npi,
      source_addr: pdu.source_addr,
      dest_addr_ton: pdu.dest_addr_ton,
      dest_addr_npi: pdu.dest_addr_npi,
      destination_addr: pdu.destination_addr,
      esm_class: pdu.esm_class,
      registered_delivery: pdu.registered_delivery,
      data_coding: pdu.data_coding,
      // Decoded by node-smpp: GSM 03.38 for data_coding 0, UCS-2 for 8.
      text: pdu.short_message.message,
      tlvs,
      message_id: id,
    });
    session.send(pdu.response({ message_id: id }));
    if (!transceiver) {
      return;
    }
    session.deliver_sm({
      source_addr_ton: pdu.dest_addr_ton,
      source_addr_npi: pdu.dest_addr_npi,
      source_addr: pdu.destination_addr,
      dest_addr_ton: pdu.source_addr_ton,
      dest_addr_npi: pdu.source_addr_npi,
      destination_addr: pdu.source_addr,
      esm_class: smpp.ESM_CLASS.MC_DELIVERY_RECEIPT,
      data_coding: 0,
      short_message: 'id:' + id + ' sub:001 dlvrd:001 submit date:2405011200 done date:2405011201 stat:DELIVRD err:000 text:OTP',
      receipted_message_id: id,
      message_state: smpp.MESSAGE_STATE.DELIVERED,
    }, (resp) => {
      out({ event: 'deliver_sm_resp', command_status: resp.command_status, message_id: id });
    });
  });
});

server.listen(0, '127.0.0.1', () => out({ event: 'listening', port: server.address().port }));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
