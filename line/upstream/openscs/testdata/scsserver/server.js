// Test-only OPC 30260 Open-SCS site server (node-opcua) for
// line/upstream/openscs/nodeopcua_test.go: an OPC UA implementation
// independent of gopcua that loads Opc.Ua.OPENSCS.NodeSet2.xml itself,
// instantiates OPENSCSPoolManagerObjectType and
// OPENSCSEventManagerObjectType, and decodes/encodes the Open-SCS
// structures with its own codec (from the node set's type definitions).
//
// Usage: node server.js [port]   (default 0 = any free port)
// Env:   SCS_NODESET           path of Opc.Ua.OPENSCS.NodeSet2.xml (required)
//        SCS_USER, SCS_PASS    accepted username/password
//        SCS_PKI               PKI folder (own certificate, trusted clients)
// Security: None and Basic256Sha256 (Sign, SignAndEncrypt); anonymous and
// username tokens; every client certificate is trusted (test only).
// It gives at most 3 serials per call (RequestToken pages) and takes back
// at most 4 per return (MaxSNReturnable); stdin closing stops it.
//
// stdout, one line each:
//   "endpoint opc.tcp://127.0.0.1:PORT"       once serving
//   "session POLICY MODE USER"                 a session was activated
//   "call METHOD STATUS N [key=value...]"      a method answered (N serials)
"use strict";

const path = require("path");
const { OPCUAServer } = require("node-opcua-server");
const { nodesets } = require("node-opcua-nodesets");
const { OPCUACertificateManager } = require("node-opcua-certificate-manager");
const { SecurityPolicy } = require("node-opcua-secure-channel");
const { MessageSecurityMode } = require("node-opcua-types");
const { Variant, DataType, VariantArrayType } = require("node-opcua-variant");
const { StatusCodes } = require("node-opcua-status-code");

const NS = "http://opcfoundation.org/UA/OPENSCS-SER/";
const user = process.env.SCS_USER || "operator";
const pass = process.env.SCS_PASS || "secret";
const pki = process.env.SCS_PKI || path.join(process.cwd(), "pki");
const port = parseInt(process.argv[2] || "0", 10);

function fail(err) {
    process.stderr.write(`scsserver: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
}

async function main() {
    if (!process.env.SCS_NODESET) {
        throw new Error("SCS_NODESET is not set");
    }
    const server = new OPCUAServer({
        port,
        hostname: "127.0.0.1",
        host: "127.0.0.1",
        nodeset_filename: [nodesets.standard, process.env.SCS_NODESET],
        serverCertificateManager: new OPCUACertificateManager({ rootFolder: path.join(pki, "server"), automaticallyAcceptUnknownCertificate: true }),
        userCertificateManager: new OPCUACertificateManager({ rootFolder: path.join(pki, "user"), automaticallyAcceptUnknownCertificate: true }),
        securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
        securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
        allowAnonymous: true,
        userManager: { isValidUser: (u, p) => u === user && p === pass },
        disableDiscovery: true,
        serverInfo: { applicationUri: "urn:serialine:scsserver", productUri: "urn:serialine:scsserver" },
        buildInfo: { productName: "serialine-scsserver" },
    });
    await server.initialize();
    const as = server.engine.addressSpace;
    const ns = as.getNamespace(NS);
    if (!ns) {
        throw new Error("Open-SCS namespace not loaded");
    }
    const objects = as.rootFolder.objects;
    const pm = ns.findObjectType("OPENSCSPoolManagerObjectType").instantiate({ browseName: "PoolManager", organizedBy: objects });
    const em = ns.findObjectType("OPENSCSEventManagerObjectType").instantiate({
        browseName: "EventManager", organizedBy: objects,
        optionals: ["SIDCommissioningEvent", "LabelsScrappingEvent", "SIDDestroyingEvent", "SIDDecommissioningEvent", "SIDInspectingEvent"],
    });
    const prop = (obj, name, dataType, value, arrayType) => {
        const v = obj.getPropertyByName(name) || obj.getComponentByName(name);
        if (v) {
            v.setValueFromSource(new Variant({ dataType, value, arrayType: arrayType || VariantArrayType.Scalar }));
        }
    };
    prop(pm, "MaxSNRequestable", DataType.UInt32, 100000);
    prop(pm, "MaxSNReturnable", DataType.UInt32, 4);
    prop(pm, "MaxSNPushable", DataType.UInt32, 0);
    prop(pm, "SNFormat", DataType.String, ["GS1-AI21"], VariantArrayType.Array);

    const snCollType = as.findDataType("OPENSCSSNCollectionDataType", ns.index);
    const state = new Map(); // serial -> state number
    let next = 0;
    const pages = new Map(); // token -> remaining
    const status = (n) => new Variant({ dataType: DataType.Int32, value: n });
    const kv = (arr) => (arr || []).map((x) => `${x.key}=${x.value}`).join(" ");
    const report = (m, st, n, extra) => process.stdout.write(`call ${m} ${st} ${n}${extra ? " " + extra : ""}\n`);

    const request = (m, initial) => pm.getMethodByName(m).bindMethod((args, context, cb) => {
        const count = args[1].value;
        const crit = args[3].value || [];
        let token = args[4].value || "";
        let left = count;
        if (token) {
            if (!pages.has(token)) {
                report(m, 5, 0);
                return cb(null, { statusCode: StatusCodes.Good, outputArguments: [status(5), new Variant({ dataType: DataType.ExtensionObject, value: as.constructExtensionObject(snCollType, {}) }), new Variant({ dataType: DataType.String, value: "" })] });
            }
            left = pages.get(token);
            pages.delete(token);
        }
        const gtin = (crit.find((c) => c.key === "GTIN") || {}).value || "";
        const serials = [];
        for (let i = 0; i < Math.min(left, 3); i++) {
            next++;
            const s = `N${String(next).padStart(9, "0")}`;
            state.set(s, initial);
            serials.push(s);
        }
        left -= serials.length;
        let nextToken = "";
        if (left > 0) {
            nextToken = `tok${next}`;
            pages.set(nextToken, left);
        }
        const coll = as.constructExtensionObject(snCollType, { iD: "C-" + gtin, description: "node-opcua", state: initial, associatedPoolID: "P-" + gtin, serialNumbers: serials });
        report(m, 1, serials.length, kv(crit));
        cb(null, { statusCode: StatusCodes.Good, outputArguments: [status(1), new Variant({ dataType: DataType.ExtensionObject, value: coll }), new Variant({ dataType: DataType.String, value: nextToken })] });
    });
    request("SNRequestAllocated", 2);
    request("SNRequestUnallocated", 1);

    const change = (obj, m, from, to) => {
        const meth = obj.getMethodByName(m);
        if (!meth) {
            throw new Error(`no method ${m}`);
        }
        meth.bindMethod((args, context, cb) => {
            const coll = args[0].value;
            const sns = (coll && (coll.serialNumbers || [])) || [];
            const ok = sns.every((s) => state.has(s) && (state.get(s) === to || from.includes(state.get(s))));
            if (ok) {
                sns.forEach((s) => state.set(s, to));
            }
            const extra = m.endsWith("Event") ? kv(args[2].value) : "";
            report(m, ok ? 1 : 2, sns.length, extra);
            cb(null, { statusCode: StatusCodes.Good, outputArguments: [status(ok ? 1 : 2)] });
        });
    };
    change(pm, "SNReturnAllocated", [2], 1);
    change(pm, "SNReturnUnallocated", [1], 0);
    change(pm, "SNtoEncoded", [2], 4);
    change(em, "SIDCommissioningEvent", [4], 7);
    change(em, "LabelsScrappingEvent", [4], 6);
    change(em, "SIDDestroyingEvent", [7, 8], 10);
    change(em, "SIDDecommissioningEvent", [7, 8], 9);
    change(em, "SIDInspectingEvent", [7], 8);

    server.on("session_activated", (session, token) => {
        const ch = session.channel;
        const policy = ch ? String(ch.securityPolicy).replace(/^.*#/, "") : "?";
        const mode = ch ? MessageSecurityMode[ch.securityMode] : "?";
        const who = token && token.userName ? token.userName : "anonymous";
        process.stdout.write(`session ${policy} ${mode} ${who}\n`);
    });
    await server.start();
    process.stdout.write(`endpoint ${server.endpoints[0].endpointDescriptions()[0].endpointUrl}\n`);
    const stop = async () => {
        await server.shutdown(0);
        process.exit(0);
    };
    process.stdin.on("close", () => stop().catch(fail));
    process.stdin.resume();
    process.on("SIGTERM", () => stop().catch(fail));
}

main().catch(fail);
