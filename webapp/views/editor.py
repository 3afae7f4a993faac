"""The Scenario settings tab: types, policy switches, forced/excluded sites, TOML."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd
import streamlit as st

from webapp import session
from webapp.i18n import budget_unit, tr, type_name


def _types(lang: str) -> None:
    st.subheader(tr("types", lang))
    draft = session.draft()
    types = draft.get("types", {})
    minutes = st.segmented_control(
        tr("radius_unit", lang), ["m", "min"],
        format_func=lambda u: tr("metres" if u == "m" else "minutes", lang),
        key=f"radius_unit_{st.session_state.revision}",
        default="min" if any("radius_min" in t for t in types.values()) else "m") or "m"
    speed = float(draft.get("walking_speed_m_per_min", 60.0))
    rows = []
    for name, body in types.items():
        radius = body.get("radius_m", body.get("radius_min", 0) * body.get(
            "speed_m_per_min", speed))
        rows.append({
            "type": name,
            tr("col_label", lang): type_name(name, lang, body.get("label")),
            tr("col_group", lang): body.get("population", ""),
            tr("col_radius" if minutes == "m" else "col_minutes", lang):
                float(radius) if minutes == "m" else round(float(radius) / speed, 1),
            tr("col_weight", lang): float(body.get("weight", 1.0)),
            tr("col_cost_col", lang): body.get("cost", ""),
            tr("col_max_sites", lang): float(body.get("max_sites", "nan")),
            tr("col_share", lang): float(body.get("max_budget_share", "nan")),
            tr("col_capacity", lang): body.get("capacity", ""),
        })
    frame = pd.DataFrame(rows).set_index("type")
    frame.index.name = tr("col_type_key", lang)
    edited = st.data_editor(
        frame, width="stretch", key=f"types_editor_{st.session_state.revision}",
        disabled=[tr("col_label", lang)],
        column_config={
            tr("col_max_sites", lang): st.column_config.NumberColumn(min_value=0, step=1),
            tr("col_share", lang): st.column_config.NumberColumn(min_value=0.0, max_value=1.0,
                                                                 step=0.05),
            tr("col_weight", lang): st.column_config.NumberColumn(min_value=0.0, step=0.5),
        })
    for name, row in edited.iterrows():
        body = dict(types[name])
        radius_key = tr("col_radius" if minutes == "m" else "col_minutes", lang)
        radius = float(row[radius_key]) if pd.notna(row[radius_key]) else 0.0
        body.pop("radius_min", None)
        body.pop("speed_m_per_min", None)
        if minutes == "m":
            body["radius_m"] = radius
        else:
            body.pop("radius_m", None)
            body["radius_min"] = radius
        body["population"] = str(row[tr("col_group", lang)])
        body["cost"] = str(row[tr("col_cost_col", lang)])
        body["weight"] = float(row[tr("col_weight", lang)])
        for column, key, cast in ((tr("col_max_sites", lang), "max_sites", int),
                                  (tr("col_share", lang), "max_budget_share", float),
                                  (tr("col_capacity", lang), "capacity", str)):
            value = row[column]
            if value is None or (not isinstance(value, str) and pd.isna(value)) or \
                    value == "":
                body.pop(key, None)
            else:
                body[key] = cast(value)
        if body != types[name]:
            session.edit(f"types.{name}", body)


def _policies(lang: str) -> None:
    """The policy switches, one bordered box each; the draft's ``policy`` is replaced when
    they change it."""
    st.subheader(tr("policies", lang))
    draft = session.draft()
    policy = dict(draft.get("policy", {}))
    names = list(draft.get("types", {}))
    revision = st.session_state.revision
    labels = {n: type_name(n, lang, draft["types"][n].get("label")) for n in names}
    new: dict = {}
    new |= _floors_policy(policy, names, labels, lang, revision)
    new |= _circle_policy(policy, draft, names, lang, revision)
    new |= _cost_policy(policy, names, labels, lang, revision)
    new |= _area_policy(policy, lang, revision)
    new |= _phasing_policy(policy, draft, lang, revision)
    for keep in ("maxmin", "group_by", "floor_penalty"):
        if keep in policy and keep not in new and (keep != "group_by" or "maxmin" in policy):
            new[keep] = policy[keep]
    if new != policy:
        session.edit("policy", new or None)


def _floors_policy(policy: dict, names: list[str], labels: dict[str, str], lang: str,
                   revision: int) -> dict:
    """Coverage floors per type (and hard or soft) for every community.

    Returns
    -------
    dict
        The ``floors``, ``floor_mode``, ``group_by`` (and soft ``floor_penalty``) keys,
        or nothing when switched off or all floors are 0.
    """
    new: dict = {}
    with st.container(border=True):
        floors_on = st.toggle(tr("floors", lang), value=bool(policy.get("floors")),
                              key=f"floors_on_{revision}")
        if floors_on:
            cols = st.columns(len(names) + 1)
            floors = {}
            for col, name in zip(cols, names, strict=False):
                value = col.number_input(labels[name], 0.0, 1.0,
                                         float(policy.get("floors", {}).get(name, 0.0)),
                                         0.05, key=f"floor_{name}_{revision}")
                if value > 0:
                    floors[name] = value
            mode = cols[-1].radio(tr("floor_mode", lang), ["hard", "soft"],
                                  index=0 if policy.get("floor_mode", "hard") == "hard" else 1,
                                  format_func=lambda m: tr(f"floor_{m}", lang),
                                  key=f"floor_mode_{revision}")
            if floors:
                new |= {"floors": floors, "floor_mode": mode,
                        "group_by": policy.get("group_by", "community_id")}
                if mode == "soft":
                    new["floor_penalty"] = policy.get("floor_penalty", 1.0)
    return new


def _circle_policy(policy: dict, draft: dict, names: list[str], lang: str,
                   revision: int) -> dict:
    """The complete-circle bonus (every type within reach) and its weight.

    Returns
    -------
    dict
        The ``complete_circle`` key, or nothing when switched off.
    """
    new: dict = {}
    with st.container(border=True):
        circle = policy.get("complete_circle", {})
        if st.toggle(tr("complete_circle", lang), value=bool(circle),
                     key=f"circle_on_{revision}"):
            weight = st.number_input(tr("circle_weight", lang), 0.0, 100.0,
                                     float(circle.get("weight", 1.0)), 0.5,
                                     key=f"circle_weight_{revision}")
            population = next((draft["types"][n]["population"] for n in names
                               if draft["types"][n].get("population") == "pop_total"),
                              draft["types"][names[0]]["population"])
            new["complete_circle"] = {"types": names, "weight": weight,
                                      "population": circle.get("population", population)}
    return new


def _cost_policy(policy: dict, names: list[str], labels: dict[str, str], lang: str,
                 revision: int) -> dict:
    """Least cost (minimise spending) and the coverage targets per type.

    Returns
    -------
    dict
        The ``targets`` key if any target is above 0, and ``objective`` for least cost.
    """
    new: dict = {}
    with st.container(border=True):
        least = st.toggle(tr("least_cost", lang), value=policy.get("objective") == "min_cost",
                          key=f"least_cost_{revision}")
        st.caption(tr("targets", lang))
        cols = st.columns(len(names))
        targets = {}
        for col, name in zip(cols, names, strict=True):
            value = col.number_input(labels[name], 0.0, 1.0,
                                     float(policy.get("targets", {}).get(name, 0.0)), 0.05,
                                     key=f"target_{name}_{revision}")
            if value > 0:
                targets[name] = value
        if targets:
            new["targets"] = targets
        if least:
            new["objective"] = "min_cost"
    return new


def _area_policy(policy: dict, lang: str, revision: int) -> dict:
    """Budgets by area (a sites column such as the subdistrict), edited as a table.

    Returns
    -------
    dict
        The ``area_budgets`` key, or nothing when switched off or no budget is given.
    """
    new: dict = {}
    with st.container(border=True):
        areas = policy.get("area_budgets", {})
        if st.toggle(tr("area_budgets", lang), value=bool(areas), key=f"areas_on_{revision}"):
            column = st.text_input(tr("area_column", lang), areas.get("column", "street_en"),
                                   key=f"area_column_{revision}")
            unit = budget_unit(lang)
            budgets = pd.DataFrame({"area": list(areas.get("budgets", {}).keys()),
                                    "budget": [v / unit for v in
                                               areas.get("budgets", {}).values()]})
            edited = st.data_editor(budgets, num_rows="dynamic", width="stretch",
                                    key=f"area_editor_{revision}",
                                    column_config={"budget": st.column_config.NumberColumn(
                                        tr("budget", lang), min_value=0.0)})
            values = {str(r.area): float(r.budget) * unit for r in edited.itertuples()
                      if isinstance(r.area, str) and r.area and pd.notna(r.budget)}
            if values:
                new["area_budgets"] = {"column": column, "budgets": values}
    return new


def _phasing_policy(policy: dict, draft: dict, lang: str, revision: int) -> dict:
    """Multi-year phasing: the years and each year's budget, as comma lists.

    Returns
    -------
    dict
        The ``phasing`` key, or nothing when switched off or the budgets are not numbers
        (an error is shown).
    """
    new: dict = {}
    with st.container(border=True):
        phasing = policy.get("phasing", {})
        if st.toggle(tr("phasing", lang), value=bool(phasing), key=f"phasing_on_{revision}"):
            unit = budget_unit(lang)
            years = st.text_input(tr("phasing_years", lang),
                                  ", ".join(phasing.get("years", ["2026", "2027"])),
                                  key=f"phasing_years_{revision}")
            default_budgets = phasing.get("budgets") or [draft.get("budget", 0) / 2] * 2
            amounts = st.text_input(tr("phasing_budgets", lang),
                                    ", ".join(f"{b / unit:g}" for b in default_budgets),
                                    key=f"phasing_budgets_{revision}")
            try:
                values = [float(v) * unit for v in amounts.split(",") if v.strip()]
                new["phasing"] = {"years": [y.strip() for y in years.split(",") if y.strip()],
                                  "budgets": values,
                                  "objective": phasing.get("objective", "accumulated")}
            except ValueError:
                st.error(tr("phasing_budgets", lang))
    return new


def _site_rules(lang: str) -> None:
    st.subheader(tr("sites_rules", lang))
    st.caption(tr("pick_hint", lang))
    draft = session.draft()
    spec = session.spec_or_problems()
    if isinstance(spec, list):
        return
    instance = session.instance_or_problems(spec)
    if isinstance(instance, list):
        return
    revision = st.session_state.revision
    ids = list(instance.site_ids.astype(str))
    force = st.multiselect(tr("force_open", lang), ids, placeholder=tr("pick_sites", lang),
                           default=[s for s in draft.get("force_open", {}) if s in ids],
                           key=f"force_{revision}_{len(draft.get('force_open', {}))}")
    exclude = st.multiselect(tr("exclude", lang), ids, placeholder=tr("pick_sites", lang),
                             default=[s for s in draft.get("exclude", []) if s in ids],
                             key=f"exclude_{revision}_{len(draft.get('exclude', []))}")
    forced = {s: draft.get("force_open", {}).get(s, "any") for s in force}
    if forced != draft.get("force_open", {}):
        session.edit("force_open", forced or None)
    if exclude != draft.get("exclude", []):
        session.edit("exclude", exclude or None)
    attributes = instance.site_attributes
    table = pd.DataFrame({tr("col_site", lang): ids})
    for t, kind in enumerate(instance.types):
        table[type_name(kind.name, lang)] = instance.site_cost[:, t]
    if attributes is not None:
        names = {"kind_zh" if lang == "zh" else "kind": tr("col_kind", lang),
                 "area_m2": tr("col_area", lang), "community_id": tr("community", lang)}
        for column, label in names.items():
            if column in attributes.columns:
                table[label] = attributes[column].to_numpy()
    event = st.dataframe(table, width="stretch", height=260, hide_index=True,
                         on_select="rerun", selection_mode="multi-row",
                         key=f"site_table_{revision}")
    picked = [ids[i] for i in event.selection.rows] + list(
        st.session_state.get("map_picked", []))
    cols = st.columns(3)
    if cols[0].button(tr("add_force", lang), disabled=not picked, key="add_force"):
        session.edit("force_open", {**draft.get("force_open", {}),
                                    **{s: "any" for s in picked}})
        session.edit("exclude", [s for s in draft.get("exclude", []) if s not in picked]
                     or None)
        st.rerun()
    if cols[1].button(tr("add_exclude", lang), disabled=not picked, key="add_exclude"):
        session.edit("exclude", sorted(set(draft.get("exclude", [])) | set(picked)))
        session.edit("force_open", {k: v for k, v in draft.get("force_open", {}).items()
                                    if k not in picked} or None)
        st.rerun()
    if cols[2].button(tr("clear_rules", lang), key="clear_rules"):
        session.edit("force_open", None)
        session.edit("exclude", None)
        st.rerun()


def _toml(lang: str) -> None:
    import tomli_w

    cols = st.columns(2)
    draft = session.draft()
    cols[0].download_button(tr("save_toml", lang), tomli_w.dumps(draft).encode("utf-8"),
                            file_name=f"{draft.get('name', 'scenario')}.toml",
                            mime="application/toml", key="save_toml")
    upload = cols[1].file_uploader(tr("load_toml", lang), type=["toml"], key="load_toml")
    if upload is not None and st.session_state.get("loaded_toml") != upload.file_id:
        st.session_state.loaded_toml = upload.file_id
        try:
            data = tomllib.loads(upload.getvalue().decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            st.error(f"error: {upload.name}: not valid TOML: {error}")
            return
        session.set_draft(data, Path(st.session_state.base), source=st.session_state.source)
        st.rerun()


def render(lang: str) -> None:
    draft = session.draft()
    name = st.text_input(tr("name", lang), draft.get("name", "scenario"),
                         key=f"name_{st.session_state.revision}")
    if name != draft.get("name"):
        session.edit("name", name)
    _types(lang)
    _policies(lang)
    _site_rules(lang)
    spec = session.spec_or_problems()
    if isinstance(spec, list):
        from webapp.views.data import show_problems

        show_problems(spec, lang)
    else:
        st.success(tr("scenario_ok", lang))
    _toml(lang)
