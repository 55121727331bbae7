import {
  Kind,
  getNamedType,
  getNullableType,
  isCompositeType,
  isListType,
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
 * `last`) times the cost of one node, nested connections multiply, a list asked for by id
 * (`nodes(ids:)`) costs one object per id, and a mutation costs 10.
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

/**
 * The fields selected, fragments spread in, each with the type it is selected on: a fragment with a
 * type condition (`... on Product`) is priced on that type, one without on the enclosing one.
 */
function* fieldsOf(
  set: SelectionSetNode,
  walk: Walk,
  type: GraphQLCompositeType,
): Generator<{ field: FieldNode; on: GraphQLCompositeType }> {
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) yield { field: selection, on: type };
    else {
      const fragment = selection.kind === Kind.INLINE_FRAGMENT ? selection : walk.fragments.get(selection.name.value);
      if (!fragment) continue;
      const condition = fragment.typeCondition && walk.schema.getType(fragment.typeCondition.name.value);
      yield* fieldsOf(fragment.selectionSet, walk, condition && isCompositeType(condition) ? condition : type);
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
  for (const { field, on } of fieldsOf(set, walk, type)) {
    if (field.name.value.startsWith("__")) continue;
    const def = fieldDef(on, field.name.value, walk);
    if (!def) continue;
    const named = getNamedType(def.type);
    if (!isCompositeType(named) || !field.selectionSet) continue;
    const value = data === undefined ? undefined : (data as Record<string, unknown> | null)?.[responseKey(field)];
    if (data !== undefined && (value === null || value === undefined)) continue;
    if (isConnection(named.name)) cost += connectionCost(field, named, walk, value);
    else if (Array.isArray(value)) {
      for (const item of value) if (item !== null) cost += 1 + selectionCost(field.selectionSet, named, walk, item);
    } else if (data === undefined && isListType(getNullableType(def.type))) {
      // A list asked for by id (`nodes(ids:)`) costs one object per id asked for.
      const ids = argument(field, "ids", walk.variables);
      cost += (Array.isArray(ids) ? ids.length : 1) * (1 + selectionCost(field.selectionSet, named, walk));
    } else cost += 1 + selectionCost(field.selectionSet, named, walk, value);
  }
  return cost;
}

/** 2 + size × one node, where a node is reached through `nodes` or `edges { node }`. */
function connectionCost(field: FieldNode, type: GraphQLCompositeType, walk: Walk, data?: unknown): number {
  const conn = data as { nodes?: unknown[]; edges?: { node?: unknown }[] } | undefined;
  let perNode = (_node?: unknown) => 0;
  const parts: ((node?: unknown) => number)[] = [];
  for (const { field: sub, on } of fieldsOf(field.selectionSet!, walk, type)) {
    const def = fieldDef(on, sub.name.value, walk);
    if (!def || !sub.selectionSet) continue;
    const named = getNamedType(def.type);
    if (!isCompositeType(named)) continue;
    if (sub.name.value === "nodes") parts.push((node) => 1 + selectionCost(sub.selectionSet!, named, walk, node));
    if (sub.name.value === "edges") {
      for (const { field: edgeField } of fieldsOf(sub.selectionSet, walk, named)) {
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
