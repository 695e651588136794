import type { ReactNode } from "react";
import { NavLink, Outlet } from "react-router-dom";
import { useAuth } from "../auth";
import { Icon, type IconName } from "./Icon";

function NavItem({ to, icon, label, testId }: { to: string; icon: IconName; label: string; testId: string }) {
  return (
    <NavLink to={to} data-testid={testId} className={({ isActive }) => `nav-item${isActive ? " active" : ""}`}>
      <Icon name={icon} size={18} />
      <span>{label}</span>
    </NavLink>
  );
}

/** The frame around every page once logged in: sidebar navigation, the user and a logout button. */
export function Shell() {
  const { me, isAdmin, logout } = useAuth();
  return (
    <div className="shell">
      <aside className="sidebar">
        <div className="brand">
          <span className="brand-mark">
            <svg viewBox="0 0 32 32" width="28" height="28" aria-hidden="true">
              <rect width="32" height="32" rx="7" fill="#6366f1" />
              <path d="M8 11h6l4 5-4 5H8m10-10h6M18 21h6" stroke="#fff" strokeWidth="2.6" fill="none"
                strokeLinecap="round" strokeLinejoin="round" />
            </svg>
          </span>
          <span className="brand-text">
            <strong>Conduix</strong>
            <small>control plane</small>
          </span>
        </div>
        <nav className="nav">
          <NavItem to="/pipelines" icon="pipelines" label="Pipelines" testId="nav-pipelines" />
          <NavItem to="/agents" icon="agents" label="Agents" testId="nav-agents" />
          <NavItem to="/schedules" icon="schedules" label="Schedules" testId="nav-schedules" />
          <NavItem to="/runs" icon="runs" label="Runs" testId="nav-runs" />
          {isAdmin && <NavItem to="/tokens" icon="tokens" label="API tokens" testId="nav-tokens" />}
          {isAdmin && <NavItem to="/audit" icon="audit" label="Audit log" testId="nav-audit" />}
        </nav>
        <div className="sidebar-user">
          <div className="avatar" aria-hidden="true">{(me?.user ?? "?").slice(0, 1).toUpperCase()}</div>
          <div className="user-meta">
            <NavLink to="/account" className="user-name" data-testid="current-user"
              title={`${me?.user ?? ""}: account and password`}>{me?.user}</NavLink>
            <span className={`role role-${me?.role}`} data-testid="current-role">{me?.role}</span>
          </div>
          <button className="icon-button" data-testid="logout" title="Log out" aria-label="Log out"
            onClick={() => void logout()}>
            <Icon name="logout" size={18} />
          </button>
        </div>
      </aside>
      <main className="main">
        <Outlet />
      </main>
    </div>
  );
}

/** A page's title bar: heading, a subtitle and actions on the right. */
export function PageHeader({ title, subtitle, children }: { title: ReactNode; subtitle?: ReactNode;
  children?: ReactNode }) {
  return (
    <header className="page-header">
      <div>
        <h1>{title}</h1>
        {subtitle && <p className="subtitle">{subtitle}</p>}
      </div>
      {children && <div className="page-actions">{children}</div>}
    </header>
  );
}
