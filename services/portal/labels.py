"""French labels of the codes the portal's forms offer (the codes themselves are in contracts/codes.py)."""

from __future__ import annotations

from contracts.codes import ClauseKind, Sector, SizingMethod

SECTORS: dict[str, str] = {
    Sector.GROS_OEUVRE: "Gros œuvre", Sector.SECOND_OEUVRE: "Second œuvre", Sector.PEINTURE: "Peinture",
    Sector.CHARPENTE_METALLIQUE: "Charpente métallique", Sector.VOIRIE_RESEAUX: "Voirie et réseaux",
    Sector.NETTOYAGE: "Nettoyage", Sector.ESPACES_VERTS: "Espaces verts",
    Sector.COLLECTE_DECHETS: "Collecte des déchets", Sector.RESTAURATION: "Restauration",
    Sector.LOGISTIQUE: "Logistique", Sector.SERVICES_PERSONNE: "Services à la personne",
    Sector.PRESTATIONS_INTELLECTUELLES: "Prestations intellectuelles", Sector.NUMERIQUE: "Numérique",
    Sector.AUTRE: "Autre secteur",
}
CLAUSE_KINDS: dict[str, str] = {
    ClauseKind.EXECUTION_CONDITION: "Condition d'exécution (art. L2112-2)",
    ClauseKind.AWARD_CRITERION: "Critère d'attribution (art. L2152-7)",
    ClauseKind.RESERVED_SIAE: "Marché réservé aux SIAE (art. L2113-13)",
    ClauseKind.RESERVED_EA_ESAT: "Marché réservé aux EA et ESAT (art. L2113-12)",
    ClauseKind.RESERVED_BOTH: "Marché réservé SIAE, EA et ESAT (art. L2113-14)",
    ClauseKind.RESERVED_ESS: "Marché réservé à l'ESS (art. L2113-15)",
    ClauseKind.INSERTION_SERVICE: "Marché d'insertion (prestation d'insertion)",
}
METHODS: dict[str, str] = {
    SizingMethod.RATE: "Taux appliqué au montant (calcul automatique)",
    SizingMethod.FIXED_HOURS: "Nombre d'heures fixé",
    SizingMethod.PER_AMOUNT_INVOICED: "Une heure par tranche de montant facturé",
}
PROCEDURES: dict[str, str] = {
    "appel_offres_ouvert": "Appel d'offres ouvert", "appel_offres_restreint": "Appel d'offres restreint",
    "procedure_adaptee": "Procédure adaptée (MAPA)", "procedure_negociee": "Procédure négociée",
    "dialogue_competitif": "Dialogue compétitif", "sans_publicite": "Sans publicité ni mise en concurrence",
    "autre": "Autre procédure",
}
LOT_STATUSES: dict[str, str] = {"draft": "Brouillon", "submitted": "Publié", "awarded": "Attribué", "closed": "Clos"}
# Service field names → the words a buyer reads in a message that is not next to its field.
FIELD_LABELS: dict[str, str] = {
    "reference": "Référence", "title": "Intitulé", "procedure": "Procédure", "cpv_code": "Code CPV",
    "commune_insee": "Commune (code INSEE)", "number": "Numéro", "sector": "Secteur", "amount_eur": "Montant HT",
    "start_date": "Début", "end_date": "Fin", "clause.kind": "Type de clause", "clause.method": "Méthode",
    "clause": "Clause", "clause.hours": "Heures", "clause.eur_per_hour": "Montant par heure", "lots": "Lots", "buyer_id": "Acheteur",
}

# Sizing parameters the estimate says it took from the territory's defaults.
PARAMETERS: dict[str, str] = {
    "labour_share": "part de main-d'œuvre", "insertion_rate": "taux d'insertion", "hourly_cost_eur": "coût horaire",
    "hours": "heures", "eur_per_hour": "montant par heure", "transferred_monthly_hours": "heures reprises",
}


def options(labels: dict[str, str]) -> list[tuple[str, str]]:
    return [(str(k), v) for k, v in labels.items()]
