"""Codes that clients rely on (DESIGN.md, "Client contract"). Add members freely; never rename one."""

from enum import StrEnum


class Gender(StrEnum):
    F = "F"
    M = "M"


class AgeBand(StrEnum):
    UNDER_26 = "<26"
    FROM_26_TO_49 = "26-49"
    OVER_50 = "50+"


class StructureKind(StrEnum):
    EI = "EI"
    ETTI = "ETTI"
    AI = "AI"
    ACI = "ACI"
    EITI = "EITI"
    GEIQ = "GEIQ"
    EA = "EA"
    ESAT = "ESAT"
    REGIE = "REGIE"
    PLIE = "PLIE"
    OTHER = "OTHER"


class Modality(StrEnum):
    DIRECT_HIRE = "direct_hire"
    PROVISION = "provision"
    SUBCONTRACTING = "subcontracting"
    CO_CONTRACTING = "co_contracting"
    TRAINING = "training"


class ContractType(StrEnum):
    CDI = "CDI"
    CDD = "CDD"
    CDDI = "CDDI"
    INTERIM = "INTERIM"
    PRO = "PRO"
    APPRENTICESHIP = "APPRENTICESHIP"
    OTHER = "OTHER"


class ExitCategory(StrEnum):
    DURABLE_JOB = "durable_job"
    TRANSITION_JOB = "transition_job"
    POSITIVE_EXIT = "positive_exit"
    OTHER = "other"
    UNKNOWN = "unknown"


class ClauseKind(StrEnum):
    EXECUTION_CONDITION = "execution_condition"  # L2112-2
    AWARD_CRITERION = "award_criterion"  # L2152-7
    RESERVED_SIAE = "reserved_siae"  # L2113-13
    RESERVED_EA_ESAT = "reserved_ea_esat"  # L2113-12
    RESERVED_BOTH = "reserved_both"  # L2113-14
    RESERVED_ESS = "reserved_ess"  # L2113-15
    INSERTION_SERVICE = "insertion_service"


class SizingMethod(StrEnum):
    RATE = "rate"
    FIXED_HOURS = "fixed_hours"
    PER_AMOUNT_INVOICED = "per_amount_invoiced"


class BuyerKind(StrEnum):
    COLLECTIVITE = "collectivite"
    BAILLEUR_SOCIAL = "bailleur_social"
    ETAT = "etat"
    ETABLISSEMENT_PUBLIC = "etablissement_public"
    AUTRE = "autre"


class Sector(StrEnum):
    GROS_OEUVRE = "gros_oeuvre"
    SECOND_OEUVRE = "second_oeuvre"
    PEINTURE = "peinture"
    CHARPENTE_METALLIQUE = "charpente_metallique"
    VOIRIE_RESEAUX = "voirie_reseaux"
    NETTOYAGE = "nettoyage"
    ESPACES_VERTS = "espaces_verts"
    COLLECTE_DECHETS = "collecte_dechets"
    RESTAURATION = "restauration"
    LOGISTIQUE = "logistique"
    SERVICES_PERSONNE = "services_personne"
    PRESTATIONS_INTELLECTUELLES = "prestations_intellectuelles"
    NUMERIQUE = "numerique"
    AUTRE = "autre"


class LotStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    AWARDED = "awarded"
    CLOSED = "closed"


class CriterionCode(StrEnum):
    DELD = "DELD"
    DETLD = "DETLD"
    RSA = "RSA"
    ASS = "ASS"
    AAH = "AAH"
    RQTH = "RQTH"
    JEUNE_PEU_QUALIFIE = "JEUNE_PEU_QUALIFIE"
    SENIOR_50 = "SENIOR_50"
    SIAE = "SIAE"
    GEIQ = "GEIQ"
    PLIE = "PLIE"
    EA_ESAT = "EA_ESAT"
    EPIDE_E2C = "EPIDE_E2C"
    REGIE = "REGIE"
    QPV = "QPV"
    AUTRE_VALIDE = "AUTRE_VALIDE"


class HourKind(StrEnum):
    WORK = "work"
    TRAINING = "training"
