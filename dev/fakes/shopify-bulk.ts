import {
  Kind,
  getNamedType,
  isCompositeType,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from "graphql";

/**
 * A bulk operation's result as Shopify writes it: one JSON object a line for each node of a
 * connection; a node of a nested connection is a line of its own with `__parentId`, the id of the
 * node it belongs to, right after that node (Shopify's `groupObjects`). Objects that are not
 * connections stay inside their line.
 */
export function bulkJsonl(schema: GraphQLSchema, document: DocumentNode, data: Record<string, unknown>): string[] {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const fields = function* (set: SelectionSetNode): Generator<FieldNode> {
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) yield s;
      else if (s.kind === Kind.INLINE_FRAGMENT) yield* fields(s.selectionSet);
      else if (fragments.get(s.name.value)) yield* fields(fragments.get(s.name.value)!.selectionSet);
    }
  };
  const lines: string[] = [];
  const typeOf = (parent: GraphQLCompositeType, name: string) => {
    const def = "getFields" in parent ? parent.getFields()[name] : undefined;
    return def ? getNamedType(def.type) : undefined;
  };

  /** The nodes of a connection value, with the selection and type that describe one node. */
  function nodesOf(field: FieldNode, type: GraphQLCompositeType, value: Record<string, unknown>) {
    const out: { node: Record<string, unknown>; set: SelectionSetNode; type: GraphQLCompositeType }[] = [];
    for (const sub of fields(field.selectionSet!)) {
      const key = sub.alias?.value ?? sub.name.value;
      const subType = typeOf(type, sub.name.value);
      if (!sub.selectionSet || !subType || !isCompositeType(subType)) continue;
      if (sub.name.value === "nodes") {
        for (const node of (value[key] as Record<string, unknown>[]) ?? [])
          out.push({ node, set: sub.selectionSet, type: subType });
      }
      if (sub.name.value === "edges") {
        for (const edge of (value[key] as Record<string, unknown>[]) ?? []) {
          for (const edgeField of fields(sub.selectionSet)) {
            const nodeType = typeOf(subType, "node");
            if (edgeField.name.value !== "node" || !edgeField.selectionSet || !nodeType || !isCompositeType(nodeType))
              continue;
            out.push({
              node: edge[edgeField.alias?.value ?? "node"] as Record<string, unknown>,
              set: edgeField.selectionSet,
              type: nodeType,
            });
          }
        }
      }
    }
    return out;
  }

  /** Copies `value` without its connections; the connections' nodes are queued as lines of their own. */
  function strip(
    set: SelectionSetNode,
    type: GraphQLCompositeType,
    value: Record<string, unknown>,
    children: (() => void)[],
    ownerId: unknown,
  ): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const field of fields(set)) {
      const key = field.alias?.value ?? field.name.value;
      const v = value[key];
      const named = field.name.value.startsWith("__") ? undefined : typeOf(type, field.name.value);
      if (!field.selectionSet || !named || !isCompositeType(named) || v === null || v === undefined) {
        out[key] = v;
        continue;
      }
      if (named.name.endsWith("Connection")) {
        for (const child of nodesOf(field, named, v as Record<string, unknown>))
          children.push(() => emit(child.set, child.type, child.node, ownerId));
        continue;
      }
      out[key] = Array.isArray(v)
        ? v.map((item) => strip(field.selectionSet!, named, item as Record<string, unknown>, children, ownerId))
        : strip(field.selectionSet, named, v as Record<string, unknown>, children, ownerId);
    }
    return out;
  }

  function emit(set: SelectionSetNode, type: GraphQLCompositeType, node: Record<string, unknown>, parentId?: unknown) {
    const children: (() => void)[] = [];
    const line = strip(set, type, node, children, node.id);
    if (parentId !== undefined) line.__parentId = parentId;
    lines.push(JSON.stringify(line));
    for (const child of children) child();
  }

  const op = document.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;
  const root = schema.getQueryType()!;
  for (const field of fields(op.selectionSet)) {
    const named = typeOf(root, field.name.value);
    const value = data[field.alias?.value ?? field.name.value] as Record<string, unknown> | null;
    if (!named || !isCompositeType(named) || !value || !field.selectionSet) continue;
    if (named.name.endsWith("Connection")) {
      for (const child of nodesOf(field, named, value)) emit(child.set, child.type, child.node);
    } else emit(field.selectionSet, named, value);
  }
  return lines;
}

/** Whether a bulk query has the connection Shopify requires. */
export function hasConnection(schema: GraphQLSchema, document: DocumentNode): boolean {
  const op = document.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  if (!op) return false;
  return op.selectionSet.selections.some((s) => {
    if (s.kind !== Kind.FIELD) return false;
    const def = schema.getQueryType()!.getFields()[s.name.value];
    return def ? getNamedType(def.type).name.endsWith("Connection") : false;
  });
}
