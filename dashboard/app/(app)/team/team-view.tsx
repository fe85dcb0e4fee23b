"use client";

import { useState } from "react";
import { api, errorMessage } from "@/lib/api";
import { useForm } from "@/lib/hooks/useForm";
import { useList } from "@/lib/hooks/useList";
import { formatWhen } from "@/lib/figures";
import type { User } from "@/lib/types";
import { PageContainer } from "@/components/AppShell";
import { useSession } from "@/components/session";
import {
  Badge,
  Button,
  Card,
  CardBody,
  CardHeader,
  EmptyState,
  ErrorState,
  InlineError,
  Input,
  Modal,
  Select,
  Skeleton,
  useToast,
  type Tone,
} from "@/components/ui";

type Member = User & { created_at: string };

const ROLE_TONE: Record<string, Tone> = { owner: "violet", admin: "blue", agent: "neutral" };
const MEMBER_FIELDS = ["email", "name", "password", "role"] as const;
const EMPTY = { email: "", name: "", password: "", role: "agent" };

export function TeamView() {
  const toast = useToast();
  const { me } = useSession();
  const manager = me ? me.user.role === "owner" || me.user.role === "admin" : false;
  const { items: members, error: loadError, refresh: load, add: added, remove: removed } = useList<Member>("/api/team/members");
  const { values: form, set, reset, errors, general, submitting: adding, submit } = useForm(EMPTY, MEMBER_FIELDS);
  const [confirm, setConfirm] = useState<Member | null>(null);
  const [removing, setRemoving] = useState(false);

  const add = submit(
    async (values) => {
      const member = await api<Member>("/api/team/members", { method: "POST", json: values });
      added(member);
      reset();
      toast(`${member.name} added as ${member.role}`);
    },
    { conflictField: "email", onError: () => toast("The member was not added", "error") },
  );

  async function remove(member: Member) {
    setRemoving(true);
    try {
      await api(`/api/team/members/${member.id}`, { method: "DELETE" });
      removed(member.id);
      toast(`${member.name} removed`);
      setConfirm(null);
    } catch (error) {
      toast(errorMessage(error), "error");
    } finally {
      setRemoving(false);
    }
  }

  return (
    <PageContainer
      title="Team"
      description={
        manager || !me
          ? "The people who answer customers. Owners and admins manage the team."
          : "The people who answer customers. Only owners and admins can change the team."
      }
    >
      <div className="flex flex-col gap-6">
        <Card>
          <CardHeader title="Members" description={members ? `${members.length} member${members.length === 1 ? "" : "s"}` : undefined} />
          {loadError ? (
            <ErrorState error={loadError} title="Could not load the team" onRetry={() => void load()} />
          ) : members === null ? (
            <div className="flex flex-col gap-3 p-4" aria-busy aria-label="Loading the team">
              <Skeleton className="h-5 w-2/3" />
              <Skeleton className="h-5 w-1/2" />
            </div>
          ) : members.length === 0 ? (
            <EmptyState title="No members" />
          ) : (
            <ul className="divide-y divide-zinc-100" aria-label="Members">
              {members.map((m) => {
                const self = me?.user.id === m.id;
                const removable = manager && !self && !(m.role === "owner" && me?.user.role !== "owner");
                return (
                  <li key={m.id} className="flex items-center gap-3 px-4 py-3" data-testid="member-row">
                    <div
                      aria-hidden
                      className="grid h-9 w-9 shrink-0 place-items-center rounded-full bg-zinc-100 text-sm font-semibold text-zinc-600"
                    >
                      {m.name.slice(0, 1).toUpperCase()}
                    </div>
                    <div className="min-w-0 flex-1">
                      <p className="truncate text-sm font-medium text-zinc-900">
                        {m.name} {self && <span className="font-normal text-zinc-500">(you)</span>}
                      </p>
                      <p className="truncate text-xs text-zinc-500">
                        {m.email} · joined {formatWhen(m.created_at)}
                      </p>
                    </div>
                    <Badge tone={ROLE_TONE[m.role] ?? "neutral"}>{m.role}</Badge>
                    {removable && (
                      <Button
                        size="sm"
                        variant="ghost"
                        className="text-red-700 hover:bg-red-50"
                        onClick={() => setConfirm(m)}
                        aria-label={`Remove ${m.name}`}
                      >
                        Remove
                      </Button>
                    )}
                  </li>
                );
              })}
            </ul>
          )}
        </Card>

        {manager && (
          <Card>
            <CardHeader
              title="Add a member"
              description="They sign in with this email and password. Agents answer conversations; admins also manage settings and the team."
            />
            <CardBody>
              <form onSubmit={add} noValidate className="grid gap-4 sm:grid-cols-2" aria-label="Add a member">
                <Input
                  label="Name"
                  name="name"
                  autoComplete="off"
                  value={form.name}
                  onChange={(e) => set("name", e.target.value)}
                  error={errors.name}
                />
                <Input
                  label="Email"
                  name="email"
                  type="email"
                  autoComplete="off"
                  value={form.email}
                  onChange={(e) => set("email", e.target.value)}
                  error={errors.email}
                />
                <Input
                  label="Password"
                  name="password"
                  type="password"
                  autoComplete="new-password"
                  value={form.password}
                  onChange={(e) => set("password", e.target.value)}
                  error={errors.password}
                  hint="At least 8 characters. Share it with them safely."
                />
                <Select label="Role" name="role" value={form.role} onChange={(e) => set("role", e.target.value)} error={errors.role}>
                  <option value="agent">Agent</option>
                  <option value="admin">Admin</option>
                </Select>
                <InlineError error={general} className="sm:col-span-2" />
                <div className="flex justify-end sm:col-span-2">
                  <Button type="submit" loading={adding}>
                    Add member
                  </Button>
                </div>
              </form>
            </CardBody>
          </Card>
        )}

        <Modal
          open={confirm !== null}
          onClose={() => setConfirm(null)}
          title="Remove this member?"
          footer={
            <>
              <Button variant="secondary" onClick={() => setConfirm(null)}>
                Cancel
              </Button>
              <Button variant="danger" loading={removing} onClick={() => confirm && void remove(confirm)}>
                Remove
              </Button>
            </>
          }
        >
          <p className="text-sm text-zinc-700">
            {confirm?.name} ({confirm?.email}) will no longer be able to sign in. Their conversations and replies stay.
          </p>
        </Modal>
      </div>
    </PageContainer>
  );
}
