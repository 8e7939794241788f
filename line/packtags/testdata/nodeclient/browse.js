// Test-only OPC UA client (node-opcua) for line/packtags/nodeopcua_test.go.
//
// Usage: node browse.js ENDPOINT
// Env:   PACKTAGS_USER, PACKTAGS_PASS   log in with a user name and password
//                                       (encrypted with the server's
//                                       certificate); anonymous otherwise
//        PACKTAGS_CALLS                 comma-separated methods to call, as
//                                       browse paths below the machine
//                                       object ("BaseStateMachine.
//                                       MachineState.ExecuteState.Hold"),
//                                       "SetUnitMode=2" with an Int32 argument
//
// Connects without message security, browses the machine object
// ("PackTags" in namespace urn:serialine:packtags) recursively along
// hierarchical references, reads each node's browse name, node class,
// type definition, data type and value rank, reads the values of the
// variables (structures decoded by node-opcua from the server's
// DataTypeDefinition), calls the methods asked for, and prints one JSON
// object on stdout: {namespaces, nodes: {path: {...}}, values: {path:
// value}, calls: {path: status}} on the line starting "packtags-json ".
"use strict";

const {
    OPCUAClient, MessageSecurityMode, SecurityPolicy, AttributeIds, BrowseDirection, NodeClass,
    UserTokenType, DataType, Variant, resolveNodeId,
} = require("node-opcua-client");

const endpoint = process.argv[2];

async function main() {
    const client = OPCUAClient.create({
        endpointMustExist: false,
        securityMode: MessageSecurityMode.None,
        securityPolicy: SecurityPolicy.None,
        connectionStrategy: { maxRetry: 0 },
    });
    await client.connect(endpoint);
    const identity = process.env.PACKTAGS_USER
        ? { type: UserTokenType.UserName, userName: process.env.PACKTAGS_USER, password: process.env.PACKTAGS_PASS }
        : { type: UserTokenType.Anonymous };
    const session = await client.createSession(identity);
    const out = { namespaces: [], nodes: {}, values: {}, calls: {} };
    const nsArray = await session.readNamespaceArray();
    out.namespaces = nsArray;
    const ln = nsArray.indexOf("urn:serialine:packtags");
    const root = resolveNodeId(`ns=${ln};s=PackTags`);

    async function visit(nodeId, path) {
        const attrs = [AttributeIds.BrowseName, AttributeIds.NodeClass, AttributeIds.DataType, AttributeIds.ValueRank];
        const dv = await session.read(attrs.map((a) => ({ nodeId, attributeId: a })));
        const td = await session.browse({ nodeId, browseDirection: BrowseDirection.Forward,
            referenceTypeId: "HasTypeDefinition", includeSubtypes: false, resultMask: 63 });
        const n = {
            browseName: dv[0].value.value ? dv[0].value.value.toString() : null,
            nodeClass: NodeClass[dv[1].value.value],
            dataType: dv[2].value.value ? dv[2].value.value.toString() : null,
            valueRank: dv[3].value.value,
            typeDefinition: td.references && td.references.length ? td.references[0].nodeId.toString() : null,
        };
        out.nodes[path] = n;
        if (n.nodeClass === "Variable") {
            const v = await session.read({ nodeId, attributeId: AttributeIds.Value });
            out.values[path] = JSON.parse(JSON.stringify(v.value.value, (k, x) => (typeof x === "bigint" ? Number(x) : x)));
            if (v.statusCode.value !== 0) out.values[path] = "status " + v.statusCode.toString();
        }
        const br = await session.browse({ nodeId, browseDirection: BrowseDirection.Forward,
            referenceTypeId: "HierarchicalReferences", includeSubtypes: true, resultMask: 63 });
        for (const r of br.references || []) {
            await visit(r.nodeId, path === "" ? r.browseName.name : path + "." + r.browseName.name);
        }
    }
    await visit(root, "");

    for (const spec of (process.env.PACKTAGS_CALLS || "").split(",").filter((x) => x)) {
        const [path, arg] = spec.split("=");
        const dot = path.lastIndexOf(".");
        const objectId = resolveNodeId(`ns=${ln};s=PackTags${dot < 0 ? "" : "." + path.slice(0, dot)}`);
        const methodId = resolveNodeId(`ns=${ln};s=PackTags.${path}`);
        const inputArguments = arg === undefined ? [] : [new Variant({ dataType: DataType.Int32, value: parseInt(arg, 10) })];
        const res = await session.call({ objectId, methodId, inputArguments });
        out.calls[spec] = res.statusCode.name;
    }
    await session.close();
    await client.disconnect();
    // node-opcua prints warnings on stdout: the answer is the line that
    // starts with "packtags-json "
    process.stdout.write("\npacktags-json " + JSON.stringify(out) + "\n");
}

main().catch((err) => {
    process.stderr.write("nodeclient: " + (err && err.stack ? err.stack : err) + "\n");
    process.exit(1);
});
