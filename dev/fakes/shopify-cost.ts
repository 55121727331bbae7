import {
  Kind,
  getNamedType,
  isCompositeType,
  valueFromASTUntyped,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from "graphql";

/**
 * Shopify's documented query cost (shopify.dev, "GraphQL Admin API rate limits"), computed from a
 * document alone: a scalar or enum field costs 0, an object 1, a connection 2 plus `first` (or
 * `last`) times the cost of one node, nested connections multiply, and a mutation costs 10.
 * `actualCost` is the same rule with the number of nodes that came back instead of `first`.
 */

export const MUTATION_COST = 10;
export const SINGLE_QUERY_MAX_COST = 1000;

type Variables = Record<string, unknown>;

interface Walk {
  schema: GraphQLSchema;
  fragments: Map<string, FragmentDefinitionNode>;
  variables: Variables;
}

const isConnection = (typeName: string) => typeName.endsWith("Connection");

function argument(field: FieldNode, name: string, variables: Variables): unknown {
  const arg = field.arguments?.find((a) => a.name.value === name);
  if (!arg) return undefined;
  return valueFromASTUntyped(arg.value, variables);
}

/** The fields selected on `type`, fragments spread in (a union's branches are all counted). */
function* fieldsOf(set: SelectionSetNode, walk: Walk): Generator<FieldNode> {
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) yield selection;
    else if (selection.kind === Kind.INLINE_FRAGMENT) yield* fieldsOf(selection.selectionSet, walk);
    else {
      const fragment = walk.fragments.get(selection.name.value);
      if (fragment) yield* fieldsOf(fragment.selectionSet, walk);
    }
  }
}

function fieldDef(type: GraphQLCompositeType, name: string, walk: Walk): GraphQLField<unknown, unknown> | undefined {
  if ("getFields" in type) return type.getFields()[name];
  // A union: the field lives on one of its members.
  for (const member of walk.schema.getPossibleTypes(type)) {
    const def = member.getFields()[name];
    if (def) return def;
  }
  return undefined;
}

/** The response key of a field (its alias, else its name). */
const responseKey = (field: FieldNode) => field.alias?.value ?? field.name.value;

/**
 * Cost of a selection set on `type`. With `data` (the result), connections count the nodes that
 * came back; without it, `first`/`last`.
 */
function selectionCost(set: SelectionSetNode, type: GraphQLCompositeType, walk: Walk, data?: unknown): number {
  let cost = 0;
  for (const field of fieldsOf(set, walk)) {
    if (field.name.value.startsWith("__")) continue;
    const def = fieldDef(type, field.name.value, walk);
    if (!def) continue;
    const named = getNamedType(def.type);
    if (!isCompositeType(named) || !field.selectionSet) continue;
    const value = data === undefined ? undefined : (data as Record<string, unknown> | null)?.[responseKey(field)];
    if (data !== undefined && (value === null || value === undefined)) continue;
    if (isConnection(named.name)) cost += connectionCost(field, named, walk, value);
    else if (Array.isArray(value)) {
      for (const item of value) cost += 1 + selectionCost(field.selectionSet, named, walk, item);
    } else cost += 1 + selectionCost(field.selectionSet, named, walk, value);
  }
  return cost;
}

/** 2 + size × one node, where a node is reached through `nodes` or `edges { node }`. */
function connectionCost(field: FieldNode, type: GraphQLCompositeType, walk: Walk, data?: unknown): number {
  const conn = data as { nodes?: unknown[]; edges?: { node?: unknown }[] } | undefined;
  let perNode = (_node?: unknown) => 0;
  const parts: ((node?: unknown) => number)[] = [];
  for (const sub of fieldsOf(field.selectionSet!, walk)) {
    const def = fieldDef(type, sub.name.value, walk);
    if (!def || !sub.selectionSet) continue;
    const named = getNamedType(def.type);
    if (!isCompositeType(named)) continue;
    if (sub.name.value === "nodes") parts.push((node) => 1 + selectionCost(sub.selectionSet!, named, walk, node));
    if (sub.name.value === "edges") {
      for (const edgeField of fieldsOf(sub.selectionSet, walk)) {
        if (edgeField.name.value !== "node" || !edgeField.selectionSet) continue;
        const nodeType = getNamedType(fieldDef(named, "node", walk)!.type) as GraphQLCompositeType;
        parts.push((node) => 1 + selectionCost(edgeField.selectionSet!, nodeType, walk, node));
      }
    }
  }
  if (parts.length) perNode = (node) => Math.max(...parts.map((p) => p(node)));
  if (conn === undefined) {
    const size = Number(argument(field, "first", walk.variables) ?? argument(field, "last", walk.variables) ?? 0);
    return 2 + (Number.isFinite(size) ? size : 0) * perNode();
  }
  const nodes = conn.nodes ?? conn.edges?.map((e) => e.node) ?? [];
  return 2 + nodes.reduce<number>((sum, node) => sum + perNode(node), 0);
}

function operation(document: DocumentNode, operationName?: string | null): OperationDefinitionNode | undefined {
  const ops = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  return operationName ? ops.find((o) => o.name?.value === operationName) : ops[0];
}

function walkOf(
  schema: GraphQLSchema,
  document: DocumentNode,
  op: OperationDefinitionNode,
  variables: Variables,
): Walk {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const withDefaults: Variables = {};
  for (const v of op.variableDefinitions ?? []) {
    if (v.defaultValue) withDefaults[v.variable.name.value] = valueFromASTUntyped(v.defaultValue);
  }
  return { schema, fragments, variables: { ...withDefaults, ...variables } };
}

/**
 * A (valid) document's cost: `requestedQueryCost` before it runs (no `data`), `actualQueryCost`
 * over what it returned (`data`).
 */
function queryCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Variables,
  operationName: string | null | undefined,
  data?: unknown,
): number {
  const op = operation(document, operationName);
  if (!op) return 0;
  if (op.operation === "mutation") return MUTATION_COST;
  const root = op.operation === "query" ? schema.getQueryType()! : schema.getSubscriptionType()!;
  return selectionCost(op.selectionSet, root, walkOf(schema, document, op, variables), data);
}

export const requestedQueryCost = (
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Variables = {},
  operationName?: string | null,
) => queryCost(schema, document, variables, operationName);

export const actualQueryCost = (
  schema: GraphQLSchema,
  document: DocumentNode,
  data: unknown,
  variables: Variables = {},
  operationName?: string | null,
) => queryCost(schema, document, variables, operationName, data ?? {});
