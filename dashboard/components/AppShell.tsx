"use client";

import Link from "next/link";
import { usePathname } from "next/navigation";
import { useEffect, useState, type ReactNode } from "react";
import { cn } from "@/lib/cn";
import { useLiveState } from "@/lib/events";
import { useSession } from "./session";
import {
  BookIcon,
  ChartIcon,
  CloseIcon,
  InboxIcon,
  LogoutIcon,
  MenuIcon,
  PhoneIcon,
  PlugIcon,
  RocketIcon,
  SlidersIcon,
  SparkIcon,
  UserIcon,
  UsersIcon,
} from "./icons";

export const NAV = [
  { href: "/inbox", label: "Inbox", icon: InboxIcon },
  { href: "/contacts", label: "Contacts", icon: UserIcon },
  { href: "/simulator", label: "Simulator", icon: PhoneIcon },
  { href: "/knowledge", label: "Knowledge", icon: BookIcon },
  { href: "/ai", label: "AI settings", icon: SparkIcon },
  { href: "/settings", label: "Inbox settings", icon: SlidersIcon },
  { href: "/analytics", label: "Analytics", icon: ChartIcon },
  { href: "/channels", label: "Channels", icon: PlugIcon },
  { href: "/team", label: "Team", icon: UsersIcon },
  { href: "/onboarding", label: "Get started", icon: RocketIcon },
];

function NavLinks({ onNavigate }: { onNavigate?: () => void }) {
  const pathname = usePathname();
  return (
    <ul className="flex flex-col gap-0.5">
      {NAV.map(({ href, label, icon: Icon }) => {
        const active = pathname === href || pathname.startsWith(`${href}/`);
        return (
          <li key={href}>
            <Link
              href={href}
              onClick={onNavigate}
              aria-current={active ? "page" : undefined}
              className={cn(
                "flex items-center gap-3 rounded-lg px-3 py-2 text-sm font-medium transition-colors",
                "focus-visible:outline-2 focus-visible:outline-emerald-600",
                active
                  ? "bg-white text-zinc-900 shadow-xs ring-1 ring-zinc-200"
                  : "text-zinc-600 hover:bg-zinc-200/60 hover:text-zinc-900",
              )}
            >
              <Icon className={cn("h-5 w-5 shrink-0", active ? "text-emerald-600" : "text-zinc-400")} />
              {label}
            </Link>
          </li>
        );
      })}
    </ul>
  );
}

function Brand() {
  const { me } = useSession();
  return (
    <div className="flex min-w-0 items-center gap-2.5">
      <div aria-hidden className="grid h-8 w-8 shrink-0 place-items-center rounded-lg bg-emerald-600 text-sm font-bold text-white">
        {(me?.tenant.name ?? "W").slice(0, 1).toUpperCase()}
      </div>
      <div className="min-w-0">
        <p className="truncate text-sm font-semibold text-zinc-900" data-testid="business-name">
          {me?.tenant.name ?? "\u00a0"}
        </p>
        <p className="truncate text-xs text-zinc-600">WhatsApp AI support</p>
      </div>
    </div>
  );
}

function UserMenu() {
  const { me, logout } = useSession();
  const live = useLiveState();
  return (
    <div className="flex items-center gap-2 border-t border-zinc-200 pt-3">
      <div className="min-w-0 flex-1">
        <p className="truncate text-sm font-medium text-zinc-800">{me?.user.name ?? "\u00a0"}</p>
        <p className="truncate text-xs text-zinc-600">
          {me ? `${me.user.email} · ${me.user.role}` : "\u00a0"}
        </p>
      </div>
      <span
        role="img"
        title={live === "open" ? "Live updates connected" : "Live updates reconnecting"}
        aria-label={live === "open" ? "Live" : "Offline"}
        className={cn("h-2 w-2 rounded-full", live === "open" ? "bg-emerald-500" : "bg-zinc-300")}
      />
      <button
        type="button"
        onClick={() => void logout()}
        aria-label="Log out"
        title="Log out"
        className="rounded-lg p-2 text-zinc-500 hover:bg-zinc-200/60 hover:text-zinc-900 focus-visible:outline-2 focus-visible:outline-emerald-600"
      >
        <LogoutIcon />
      </button>
    </div>
  );
}

export function AppShell({ children }: { children: ReactNode }) {
  const [open, setOpen] = useState(false);
  const pathname = usePathname();
  useEffect(() => {
    // eslint-disable-next-line react-hooks/set-state-in-effect -- close the drawer on navigation
    setOpen(false);
  }, [pathname]);

  return (
    <div className="flex h-dvh overflow-hidden">
      <a
        href="#main"
        className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded-md focus:bg-white focus:px-3 focus:py-2"
      >
        Skip to content
      </a>
      {/* Desktop sidebar */}
      <aside className="hidden w-60 shrink-0 flex-col gap-4 border-r border-zinc-200 bg-zinc-100/70 p-3 md:flex">
        <div className="px-1 pt-1">
          <Brand />
        </div>
        <nav aria-label="Main" className="flex-1 overflow-y-auto">
          <NavLinks />
        </nav>
        <UserMenu />
      </aside>

      {/* Phone drawer */}
      {open && (
        <div className="fixed inset-0 z-40 md:hidden" role="dialog" aria-modal="true" aria-label="Menu">
          <button
            type="button"
            aria-label="Close menu"
            className="absolute inset-0 bg-zinc-900/40"
            onClick={() => setOpen(false)}
          />
          <aside className="absolute inset-y-0 left-0 flex w-72 max-w-[85vw] flex-col gap-4 bg-zinc-50 p-3 shadow-xl">
            <div className="flex items-center justify-between px-1 pt-1">
              <Brand />
              <button
                type="button"
                onClick={() => setOpen(false)}
                aria-label="Close menu"
                className="rounded-lg p-2 text-zinc-500 hover:bg-zinc-200/60"
              >
                <CloseIcon />
              </button>
            </div>
            <nav aria-label="Main" className="flex-1 overflow-y-auto">
              <NavLinks onNavigate={() => setOpen(false)} />
            </nav>
            <UserMenu />
          </aside>
        </div>
      )}

      <div className="flex min-w-0 flex-1 flex-col">
        <header className="flex h-14 shrink-0 items-center gap-2 border-b border-zinc-200 bg-white px-3 md:hidden">
          <button
            type="button"
            onClick={() => setOpen(true)}
            aria-label="Open menu"
            aria-expanded={open}
            className="rounded-lg p-2 text-zinc-600 hover:bg-zinc-100 focus-visible:outline-2 focus-visible:outline-emerald-600"
          >
            <MenuIcon />
          </button>
          <Brand />
        </header>
        <main id="main" className="min-h-0 flex-1 overflow-y-auto">
          {children}
        </main>
      </div>
    </div>
  );
}

/** The title row and body of an ordinary page (Inbox has its own full-height layout). */
export function PageContainer({
  title,
  description,
  actions,
  children,
  className,
}: {
  title: ReactNode;
  description?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
  className?: string;
}) {
  return (
    <div className={cn("mx-auto w-full max-w-6xl px-4 py-6 sm:px-6 lg:px-8", className)}>
      <div className="mb-6 flex flex-wrap items-end justify-between gap-3">
        <div className="min-w-0">
          <h1 className="text-xl font-semibold tracking-tight text-zinc-900">{title}</h1>
          {description && <p className="mt-1 text-sm text-zinc-500">{description}</p>}
        </div>
        {actions && <div className="flex flex-wrap items-center gap-2">{actions}</div>}
      </div>
      {children}
    </div>
  );
}
