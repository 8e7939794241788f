// Test-only OPC UA server (node-opcua) for devices/opcua/secure_test.go.
//
// Serves the serialine default node map (namespace 1, see
// opcua.DefaultNodeMap) with security policies None and Basic256Sha256
// (Sign, SignAndEncrypt), anonymous and username/password auth, and trusts
// every client certificate (test only: never use this outside tests).
//
// Usage: node server.js [port]     (default port 0 = any free port)
// Env:   SECSERVER_USER, SECSERVER_PASS   accepted username/password
//        SECSERVER_PKI                    PKI folder (own cert, trusted
//                                         clients); default ./pki under cwd
//        SECSERVER_SLOTS                  decision/confirmation slots (64)
//
// stdout, one line each:
//   "endpoint opc.tcp://127.0.0.1:PORT"   first line, once serving
//   "produced SEQ"                        answer to "produce N"
//   "decision SLOT SEQ VERDICT"           a decision slot was written
//   "session POLICY MODE USER"            a session was activated, e.g.
//                                         "session Basic256Sha256 Sign operator"
//                                         (USER "anonymous" without a user name)
//   "bye"                                 after stdin closed / "quit"
// stdin commands: "produce N" (ProductSeq += 1, N times), "quit".
// The PLC heartbeat (PLC.Heartbeat) is incremented every 50ms. The gate
// answers each decision at once in its confirmation slot:
// seq<<8 | (verdict == 2 ? 2 /*pushed off, confirmed*/ : 1 /*passed*/).
"use strict";

const path = require("path");
const readline = require("readline");
const { OPCUAServer } = require("node-opcua-server");
const { OPCUACertificateManager } = require("node-opcua-certificate-manager");
const { SecurityPolicy } = require("node-opcua-secure-channel");
const { MessageSecurityMode } = require("node-opcua-types");
const { Variant, DataType, VariantArrayType } = require("node-opcua-variant");

const user = process.env.SECSERVER_USER || "operator";
const pass = process.env.SECSERVER_PASS || "secret";
const pki = process.env.SECSERVER_PKI || path.join(process.cwd(), "pki");
const slots = parseInt(process.env.SECSERVER_SLOTS || "64", 10);
const port = parseInt(process.argv[2] || "0", 10);

function fail(err) {
    process.stderr.write(`secserver: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
}

// UInt64 values are [high32, low32] in node-opcua.
const u64 = (v) => [Number(v >> 32n), Number(v & 0xffffffffn)];
const fromU64 = (a) => (BigInt(a[0] >>> 0) << 32n) | BigInt(a[1] >>> 0);

async function main() {
    const serverCertificateManager = new OPCUACertificateManager({
        rootFolder: path.join(pki, "server"),
        automaticallyAcceptUnknownCertificate: true,
    });
    const userCertificateManager = new OPCUACertificateManager({
        rootFolder: path.join(pki, "user"),
        automaticallyAcceptUnknownCertificate: true,
    });
    const server = new OPCUAServer({
        port,
        hostname: "127.0.0.1",
        host: "127.0.0.1",
        serverCertificateManager,
        userCertificateManager,
        securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
        securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
        allowAnonymous: true,
        userManager: { isValidUser: (u, p) => u === user && p === pass },
        disableDiscovery: true,
        serverInfo: { applicationUri: "urn:serialine:secserver", productUri: "urn:serialine:secserver" },
        buildInfo: { productName: "serialine-secserver" },
    });
    await server.initialize();

    const as = server.engine.addressSpace;
    const ns = as.getOwnNamespace();
    if (ns.index !== 1) {
        throw new Error(`own namespace index is ${ns.index}, want 1`);
    }
    const plc = ns.addObject({ organizedBy: as.rootFolder.objects, browseName: "PLC" });
    const rw = "CurrentRead | CurrentWrite";
    const variable = (name, dataType, value) =>
        ns.addVariable({
            componentOf: plc,
            browseName: name,
            nodeId: `s=${name}`,
            dataType,
            accessLevel: rw,
            userAccessLevel: rw,
            minimumSamplingInterval: 0,
            value: new Variant({ dataType: DataType[dataType], arrayType: VariantArrayType.Scalar, value }),
        });

    let seq = 0;
    const seqVar = variable("Conveyor.ProductSeq", "UInt32", 0);
    const present = variable("Conveyor.ProductPresent", "Boolean", false);
    let beat = 0;
    const hbVar = variable("PLC.Heartbeat", "UInt16", 0);
    variable("Controller.Heartbeat", "UInt16", 0);
    variable("Interlock.LineStop", "Boolean", false);
    variable("Interlock.Light", "UInt16", 0);
    variable("Interlock.Horn", "Boolean", false);
    const confirmations = [];
    for (let i = 0; i < slots; i++) {
        confirmations.push(variable(`Gate.Confirmation.${i}`, "UInt64", [0, 0]));
    }
    for (let i = 0; i < slots; i++) {
        const d = variable(`Gate.Decision.${i}`, "UInt64", [0, 0]);
        d.on("value_changed", (dv) => {
            const raw = fromU64(dv.value.value);
            const s = raw >> 8n;
            const verdict = Number(raw & 0xffn);
            if (verdict === 0) {
                return;
            }
            const result = verdict === 2 ? 2n : 1n;
            confirmations[i].setValueFromSource({ dataType: DataType.UInt64, arrayType: VariantArrayType.Scalar, value: u64((s << 8n) | result) });
            process.stdout.write(`decision ${i} ${s} ${verdict}\n`);
        });
    }

    const hbTimer = setInterval(() => {
        beat = (beat + 1) & 0xffff;
        hbVar.setValueFromSource({ dataType: DataType.UInt16, value: beat });
    }, 50);

    server.on("session_activated", (session, token) => {
        const ch = session.channel;
        const policy = ch ? String(ch.securityPolicy).replace(/^.*#/, "") : "?";
        const mode = ch ? MessageSecurityMode[ch.securityMode] : "?";
        const who = token && token.userName ? token.userName : "anonymous";
        process.stdout.write(`session ${policy} ${mode} ${who}\n`);
    });

    await server.start();
    const ep = server.endpoints[0].endpointDescriptions()[0].endpointUrl;
    process.stdout.write(`endpoint ${ep}\n`);

    let stopping = false;
    const stop = async () => {
        if (stopping) {
            return;
        }
        stopping = true;
        clearInterval(hbTimer);
        await server.shutdown(0);
        process.stdout.write("bye\n");
        process.exit(0);
    };
    const rl = readline.createInterface({ input: process.stdin });
    rl.on("line", (line) => {
        const f = line.trim().split(/\s+/);
        if (f[0] === "produce") {
            const n = parseInt(f[1] || "1", 10);
            for (let i = 0; i < n; i++) {
                seq = (seq + 1) >>> 0;
                present.setValueFromSource({ dataType: DataType.Boolean, value: true });
                seqVar.setValueFromSource({ dataType: DataType.UInt32, value: seq });
                present.setValueFromSource({ dataType: DataType.Boolean, value: false });
            }
            process.stdout.write(`produced ${seq}\n`);
        } else if (f[0] === "quit") {
            stop().catch(fail);
        } else if (f[0] !== "") {
            process.stderr.write(`secserver: unknown command ${JSON.stringify(line)}\n`);
        }
    });
    rl.on("close", () => stop().catch(fail));
    process.on("SIGTERM", () => stop().catch(fail));
}

main().catch(fail);
